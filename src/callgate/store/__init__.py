"""Persistence: one small Protocol per aggregate (`Store` is their union), one SQL implementation
of each for SQLite and PostgreSQL.

The names are loaded on first use, so that a submodule can be imported without SQLAlchemy (the
SQLite insert process, `callgate.store.sqlite_process`, starts in a few tens of milliseconds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callgate.store.base import Page, Store, TimelineEntry
    from callgate.store.sql import SqlStore

__all__ = ["Page", "SqlStore", "Store", "TimelineEntry"]


def __getattr__(name: str) -> Any:
    if name in ("Page", "Store", "TimelineEntry"):
        from callgate.store import base

        return getattr(base, name)
    if name == "SqlStore":
        from callgate.store.sql import SqlStore

        return SqlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
