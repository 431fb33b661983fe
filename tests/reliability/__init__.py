"""End-to-end fault-injection and hostile-input suite (see docs/RELIABILITY.md)."""
