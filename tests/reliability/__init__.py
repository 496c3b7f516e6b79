"""Reliability under real, injected faults (see docs/RELIABILITY.md)."""
