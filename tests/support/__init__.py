"""Helpers only the tests use (kept out of the wheel): a throwaway PostgreSQL, a `digestbot serve`
worker in a subprocess, sample digests."""
