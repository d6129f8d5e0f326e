"""Persistence: one `Store` protocol, one SQL implementation for SQLite and PostgreSQL."""

from callgate.store.base import Page, Store, TimelineEntry
from callgate.store.sql import SqlStore

__all__ = ["Page", "SqlStore", "Store", "TimelineEntry"]
