"""SQLAlchemy Core tables. Alembic migrations in `migrations/versions` create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
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
    Column("signalwire_signing_key", String(64)),
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
    Index("ix_calls_status_seq", "status", "seq"),
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

# The worker that runs a call holds its lease: one row per claimed call (the primary key is the claim,
# so two workers can never both run a call), renewed by heartbeats; a reaper ends the calls of a
# worker whose lease ran out.
call_runs = Table(
    "call_runs",
    metadata,
    Column("call_id", String(36), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("claimed_at", DateTime(), nullable=False),
    Column("lease_until", DateTime(), nullable=False, index=True),
    # the last heartbeat (or the claim): when the worker was last known alive, running the call (0005)
    Column("alive_at", DateTime()),
)

# The durable outbox: every callback is written in the transaction of the event that causes it, and
# the dispatcher delivers it later (retrying), so a crash between the two loses nothing.
webhooks = Table(
    "webhooks",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("account_id", String(36), nullable=False),
    Column("call_id", String(36), index=True),
    Column("kind", String(32), nullable=False),
    Column("dialect", String(16), nullable=False),
    Column("url", Text(), nullable=False),
    Column("method", String(8), nullable=False),
    Column("params", JSON(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("due_at", DateTime(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    # pending -> delivered | failed; a dispatcher holds a pending row until `lease_until`
    Column("state", String(16), nullable=False),
    Column("lease_until", DateTime()),
    Column("last_status", Integer()),
    # when the first delivery started: the retry horizon counts from it (0005)
    Column("first_attempt_at", DateTime()),
    Index("ix_webhooks_state_due", "state", "due_at"),
)

# Every HTTP request Callgate made for a call (documents, callbacks) with its response: the call's
# Events resource and the webhook inspector.
requests_log = Table(
    "requests_log",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("account_id", String(36), nullable=False),
    Column("call_id", String(36), index=True),
    Column("kind", String(32), nullable=False),
    Column("at", DateTime(), nullable=False),
    Column("request", JSON(), nullable=False),
    Column("response", JSON(), nullable=False),
    Column("elapsed_ms", Integer()),
    Column("error_code", Integer()),
)

# Errors and warnings about a call, as Twilio's debugger reports them (the Notifications resource).
notifications = Table(
    "notifications",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("account_id", String(36), nullable=False),
    Column("call_id", String(36), index=True),
    Column("created_at", DateTime(), nullable=False),
    Column("level", String(8), nullable=False),
    Column("code", Integer(), nullable=False),
    Column("message", Text(), nullable=False),
    Column("request_url", Text()),
    Column("request_method", String(8)),
    Column("detail", JSON(), nullable=False),
)

# Recordings of calls: the row says what was recorded and how; the audio is a WAV file at `path`.
recordings = Table(
    "recordings",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("account_id", String(36), nullable=False),
    Column("call_id", String(36), index=True),
    Column("conference_id", String(36)),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    Column("start_time", DateTime()),
    Column("duration_s", Integer()),
    Column("channels", Integer(), nullable=False),
    Column("source", String(32), nullable=False),
    Column("track", String(16), nullable=False),
    # in-progress -> completed | absent | failed
    Column("status", String(16), nullable=False),
    Column("path", Text()),
    Column("error_code", Integer()),
    Column("price", String(32)),
    Column("price_unit", String(8), nullable=False),
    Column("api_version", String(16), nullable=False),
    # what a recording started through the API asked for (0004)
    Column("status_callback", Text()),
    Column("status_callback_method", String(8), nullable=False, server_default="POST"),
    Column("status_callback_events", String(64), nullable=False, server_default="completed"),
    Column("trim", Boolean(), nullable=False, server_default=false()),
    Column("pause_behavior", String(8), nullable=False, server_default="silence"),
    Index("ix_recordings_account_seq", "account_id", "seq"),
)
