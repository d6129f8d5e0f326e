"""Callgate: a self-hostable programmable-voice server."""

__version__ = "0.1.0"
