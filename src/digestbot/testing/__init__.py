"""Test doubles that ship with the package: local HTTP servers and a scripted chat model."""
