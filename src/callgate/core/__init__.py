"""Dialect-free, I/O-free domain model: calls, their state machine, events and errors."""
