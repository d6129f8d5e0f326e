"""Run the Alembic migrations that ship inside the package, on a connection we already hold."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")

# Any constant: serialises concurrent `callgate` processes migrating one PostgreSQL database.
_PG_LOCK_KEY = 0x43616C6C67617465


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Bring the schema to head (synchronous; called through `AsyncConnection.run_sync`)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    command.upgrade(alembic_config(connection), "head")
