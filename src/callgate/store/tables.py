"""SQLAlchemy Core tables. Alembic migrations in `migrations/versions` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite only makes INTEGER PRIMARY KEY an alias of the rowid (autoincrementing).
SeqType = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("auth_token", String(64), nullable=False),
    Column("signalwire_token", String(64), nullable=False),
    Column("bandwidth_account_id", String(16), nullable=False, unique=True),
    Column("bandwidth_username", String(64), nullable=False, unique=True),
    Column("bandwidth_password", String(64), nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("account_id", String(36), nullable=False),
    Column("parent_call_id", String(36)),
    Column("status", String(16), nullable=False),
    Column("direction", String(32), nullable=False),
    Column("to_addr", String(512), nullable=False),
    Column("from_addr", String(512), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    Column("start_time", DateTime()),
    Column("end_time", DateTime()),
    Column("duration_s", Integer()),
    Column("price", String(32)),
    Column("price_unit", String(8), nullable=False),
    Column("answered_by", String(32)),
    Column("api_version", String(16), nullable=False),
    Column("queue_time_ms", Integer(), nullable=False),
    Column("sip_call_id", String(256)),
    Column("sip_result_code", Integer()),
    Column("quality", JSON(), nullable=False),
    Column("options", JSON(), nullable=False),
    # Bumped by every update: the compare-and-set token that keeps concurrent writers honest.
    Column("version", Integer(), nullable=False),
    Index("ix_calls_account_seq", "account_id", "seq"),
)

call_events = Table(
    "call_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("call_id", String(36), nullable=False, index=True),
    Column("at", DateTime(), nullable=False),
    Column("name", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("data", JSON(), nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("account_id", String(36), nullable=False),
    Column("friendly_name", Text()),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    Column("config", JSON(), nullable=False),
    Column("version", Integer(), nullable=False),
    Index("ix_applications_account_seq", "account_id", "seq"),
)
