"""The SQL store: SQLAlchemy Core on an async engine, SQLite (aiosqlite) or PostgreSQL (asyncpg).

Every change to a call is a compare-and-set on its version, written together with its timeline
event in one transaction, so two writers (an API node and a worker) never overwrite each other:
the loser reads again and retries. New calls are group-committed (`callgate.store.batch`); on SQLite
through a writer thread of their own (`callgate.store.sqlite_writer`).

One SQL store per aggregate, each implementing its Protocol of `callgate.store.base` over the shared
connection (`sql_core.SqlCore`):

    sql_accounts.py    SqlAccounts    AccountStore    accounts and applications
    sql_calls.py       SqlCalls       CallStore       calls, timelines, the workers' leases
    sql_events.py      SqlEvents      EventStore      the request log and notifications
    sql_recordings.py  SqlRecordings  RecordingStore  recordings
    sql_outbox.py      SqlOutbox      OutboxStore     the webhook outbox

`SqlStore` is all of them on one connection: the `Store`.
"""

from typing import TYPE_CHECKING

from callgate.store.base import AccountStore, CallStore, EventStore, OutboxStore, RecordingStore, Store
from callgate.store.sql_accounts import SqlAccounts
from callgate.store.sql_calls import SqlCalls
from callgate.store.sql_core import async_url
from callgate.store.sql_events import SqlEvents
from callgate.store.sql_outbox import SqlOutbox
from callgate.store.sql_recordings import SqlRecordings


class SqlStore(SqlAccounts, SqlCalls, SqlEvents, SqlRecordings, SqlOutbox):
    """The `Store` on SQLAlchemy Core: every aggregate's SQL store over one connection (`SqlCore`).
    `open()` runs the Alembic migrations to head."""


if TYPE_CHECKING:  # each SQL store implements its aggregate's Protocol, SqlStore all of them

    def _implements(
        a: SqlAccounts, c: SqlCalls, e: SqlEvents, r: SqlRecordings, o: SqlOutbox, s: SqlStore
    ) -> tuple[AccountStore, CallStore, EventStore, RecordingStore, OutboxStore, Store]:
        return a, c, e, r, o, s


__all__ = ["SqlStore", "async_url"]
