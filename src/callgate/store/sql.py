"""The SQL store: SQLAlchemy Core on an async engine, SQLite (aiosqlite) or PostgreSQL (asyncpg).

Every change to a call is a compare-and-set on its version, written together with its timeline
event in one transaction, so two writers (an API node and a worker) never overwrite each other:
the loser reads again and retries. New calls are group-committed (`callgate.store.batch`); on SQLite
through a writer thread of their own (`callgate.store.sqlite_writer`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import orjson
import sqlalchemy.exc
from sqlalchemy import Connection, Table, and_, bindparam, delete, event, exists, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from callgate.core.call import Account, Application, Call, CallFilter
from callgate.core.events import CallEvent
from callgate.core.status import CallStatus
from callgate.store import codec
from callgate.store.base import (
    CallbacksFor,
    NotificationRecord,
    Outgoing,
    Page,
    Recording,
    RecordingFilter,
    RequestRecord,
    Run,
    TimelineEntry,
)
from callgate.store.batch import InsertBatcher
from callgate.store.pg_insert import PgInserter, insert_both_sql
from callgate.store.sqlite_writer import SqliteReader, SqliteWriter, sqlite_pragmas
from callgate.store.sqlite_writer import is_row_error as sqlite_row_error
from callgate.store.tables import (
    accounts,
    applications,
    call_events,
    call_runs,
    calls,
    notifications,
    recordings,
    requests_log,
    webhooks,
)

R = TypeVar("R")


def async_url(url: str) -> str:
    """Map a plain database URL to its asyncio driver: sqlite -> aiosqlite, postgresql -> asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return str(parsed.set(drivername="sqlite+aiosqlite"))
    if backend in {"postgresql", "postgres"}:
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string()!r}: use sqlite:/// or postgresql://"
    )


# Connect arguments SQLAlchemy's asyncpg dialect takes for itself, not asyncpg's.
_SQLALCHEMY_ONLY = ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func")


def _row_error(exc: BaseException) -> bool:
    """An error the rows caused (a constraint, a value the column refuses), not the database."""
    if sqlite_row_error(exc) or isinstance(exc, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.DataError):
        return True
    # asyncpg's own (the PostgreSQL inserter): SQLSTATE class 23 (integrity) or 22 (data)
    sqlstate = getattr(exc, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in {"22", "23"}


def _paged(query: Any, table: Table, page: Page) -> Any:
    seq = table.c.seq
    if page.before is not None:
        # The previous page: the oldest `size` rows newer than the marker, flipped back by `_rows`.
        marker = select(seq).where(table.c.id == str(page.before)).scalar_subquery()
        return query.where(seq > marker).order_by(seq.asc()).limit(page.size)
    query = query.order_by(seq.desc()).limit(page.size)
    if page.after is not None:
        marker = select(seq).where(table.c.id == str(page.after)).scalar_subquery()
        return query.where(seq < marker)
    return query.offset(page.offset)


# The engine's hot statements, built once: a statement object keeps its cache key, so executing it
# again costs only the binding (building a statement anew for each call cost more than running it).
_w = webhooks.c
_DUE_WEBHOOKS = (
    select(webhooks)
    .where(
        and_(
            _w.state == "pending",
            _w.due_at <= bindparam("now"),
            (_w.lease_until.is_(None)) | (_w.lease_until < bindparam("now")),
        )
    )
    .order_by(_w.due_at, _w.seq)
    .limit(bindparam("limit"))
)
_LEASE_WEBHOOKS = (
    update(webhooks)
    .where(_w.seq.in_(bindparam("seqs", expanding=True)))
    .values(lease_until=bindparam("until"))
)
_CALL_STATUS = select(calls.c.status).where(calls.c.id == bindparam("call_id"))
_RUN_OWNER = select(call_runs.c.owner).where(call_runs.c.call_id == bindparam("call_id"))
_NEW_RUN = insert(call_runs)
_END_RUN = delete(call_runs).where(call_runs.c.call_id == bindparam("call_id"))
_CALL_BY_ID = select(calls).where(calls.c.id == bindparam("call_id"))
_CALL_VERSIONS = select(calls.c.id, calls.c.version).where(calls.c.id.in_(bindparam("ids", expanding=True)))
_ACCOUNT_BY_ID = select(accounts).where(accounts.c.id == bindparam("account_id"))


def _rows(rows: list[R], page: Page) -> list[R]:
    return rows[::-1] if page.before is not None else rows


class SqlStore:
    """The `Store` on SQLAlchemy Core. `open()` runs the Alembic migrations to head."""

    def __init__(self, url: str, *, echo: bool = False, insert_process: bool = False) -> None:
        """`insert_process`: on a SQLite file, new calls are written by a child process
        (callgate.store.sqlite_process), on another core than the event loop's. For an API node,
        whose writes are nearly all new calls: beside the engine's writes in the same process, the
        two writers take turns through SQLite's busy handler (measured with bench/engine_e2e.py at
        100 calls a second: callback p99 22-42 ms against 7-23 without it)."""
        self.url = url
        # JSON columns read with orjson (several per call event on the engine's hot path).
        self.engine: AsyncEngine = create_async_engine(
            async_url(url), echo=echo, json_deserializer=orjson.loads
        )
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        database = self.engine.url.database
        in_memory = self.is_sqlite and database in {None, "", ":memory:"}
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", sqlite_pragmas)
        # A file gets its own writer thread; an in-memory database exists only on the engine's
        # one connection, so its inserts go through the engine too.
        on_file = bool(self.is_sqlite and not in_memory and database)
        self._sqlite_writer = (
            SqliteWriter(database, insert_process=insert_process) if on_file and database else None
        )
        self._sqlite_reader = SqliteReader(database) if on_file and database else None
        paramstyle = self.engine.dialect.paramstyle
        self._insert_call_sql = codec.insert_sql(paramstyle, calls)
        self._insert_event_sql = codec.insert_sql(paramstyle, call_events)
        # PostgreSQL: new calls on asyncpg connections of their own, one round trip a batch.
        self._pg_inserter = None if self.is_sqlite else self._make_pg_inserter()
        if self._pg_inserter is not None:
            self._inserts = InsertBatcher(
                self._pg_inserter.write,
                is_row_error=_row_error,
                start_many=self._pg_inserter.start,
            )
        else:
            self._inserts = InsertBatcher(
                self._sqlite_writer.write_call_batch if self._sqlite_writer else self._write_call_batch,
                is_row_error=_row_error,
                start_many=self._sqlite_writer.start_call_batch
                if self._sqlite_writer and insert_process
                else None,
            )
        # The engine's hot statements, as plain driver SQL built once: SQLAlchemy's per-statement
        # construction and cache key cost more than the statements themselves.
        self._update_call_sql = codec.update_call_sql(paramstyle)
        self._insert_webhook_sql = codec.insert_sql(paramstyle, webhooks)
        self._insert_request_sql = codec.insert_sql(paramstyle, requests_log)
        mark = codec.placeholders(paramstyle, 1)[0]
        self._count_status_sql = f"SELECT count(*) FROM webhooks WHERE call_id = {mark} AND kind = 'status'"
        m = codec.placeholders(paramstyle, 6)
        self._settle_webhook_sql = (
            f"UPDATE webhooks SET state = {m[0]}, attempts = {m[1]}, due_at = {m[2]}, last_status = {m[3]}, "
            f"first_attempt_at = COALESCE(first_attempt_at, {m[4]}), lease_until = NULL WHERE id = {m[5]}"
        )
        # PostgreSQL: rows another node's worker or dispatcher holds are skipped, not waited for.
        locking = not self.is_sqlite
        self._call_status = _CALL_STATUS.with_for_update(skip_locked=True) if locking else _CALL_STATUS
        self._due_webhooks = _DUE_WEBHOOKS.with_for_update(skip_locked=True) if locking else _DUE_WEBHOOKS
        # How a time is bound outside SQLAlchemy's type processing: SQLite keeps SQLAlchemy's
        # DATETIME text form, asyncpg takes naive UTC datetimes.
        self._bind_time: Any = codec.sqlite_time if self.is_sqlite else codec.naive
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None

    def _make_pg_inserter(self) -> PgInserter:
        """The inserter for new calls, connecting as the engine connects (its URL's arguments)."""
        import asyncpg

        _, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        for sqlalchemy_only in _SQLALCHEMY_ONLY:
            kwargs.pop(sqlalchemy_only, None)

        async def connect() -> Any:
            return await asyncpg.connect(**kwargs)

        sql = insert_both_sql(
            calls.name, codec.insert_columns(calls), call_events.name, codec.insert_columns(call_events)
        )
        return PgInserter(connect, sql)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction. SQLite has one writer at a time: its write transactions queue here, on
        the event loop, rather than in SQLite's busy handler (which sleeps up to 100 ms a try and, with
        a pool of connections all writing, turns a burst of updates into a convoy)."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def _tx(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` in one write transaction, with SQLAlchemy Core statements on a synchronous
        connection: on a SQLite file, on the writer thread, which makes every write to the file
        (group-committed, see SqliteWriter); elsewhere through `run_sync`."""
        if self._sqlite_writer is not None:
            return await self._sqlite_writer.transaction(fn)
        async with self._write() as conn:
            return await conn.run_sync(fn)

    async def _read(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` for a read: on a SQLite file in one hop to the reader thread; elsewhere
        without a transaction around it (each of these reads is one statement: no BEGIN and ROLLBACK
        round trips)."""
        if self._sqlite_reader is not None:
            return await self._sqlite_reader.read(fn)
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return await conn.run_sync(fn)

    async def open(self) -> None:
        from callgate.store.migrate import upgrade

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self._inserts.close()
        if self._pg_inserter is not None:
            await self._pg_inserter.close()
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        if self._sqlite_reader is not None:
            await self._sqlite_reader.close()
        await self.engine.dispose()

    # accounts

    async def create_account(self, account: Account) -> None:
        query = insert(accounts).values(**codec.account_values(account))
        await self._tx(lambda conn: conn.execute(query))

    async def list_accounts(self) -> list[Account]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).mappings()
            return [codec.account_from_row(r) for r in rows]

    async def get_account(self, account_id: UUID) -> Account | None:
        key = {"account_id": str(account_id)}

        def read(conn: Connection) -> Account | None:
            row = conn.execute(_ACCOUNT_BY_ID, key).mappings().first()
            return None if row is None else codec.account_from_row(row)

        return await self._read(read)

    # calls

    async def insert_call(self, call: Call, event: CallEvent, now: datetime) -> Call:
        """Store a new call with its first event (group-committed with concurrent inserts).

        The returned call has no `seq` yet; reading it back gives it one.
        """
        await self._inserts.submit(codec.call_rows(call, event, now, self._bind_time))
        return call

    async def _write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        # Plain executemany with SQL built once: the request path's one write, kept lean.
        async with self._write() as conn:
            await conn.exec_driver_sql(self._insert_call_sql, [call_row for call_row, _ in batch])
            await conn.exec_driver_sql(self._insert_event_sql, [event_row for _, event_row in batch])

    async def get_call(self, account_id: UUID, call_id: UUID) -> Call | None:
        query = select(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))

        def read(conn: Connection) -> Call | None:
            row = conn.execute(query).mappings().first()
            return None if row is None else codec.call_from_row(row)

        return await self._read(read)

    async def list_calls(self, account_id: UUID, flt: CallFilter, page: Page) -> list[Call]:
        c = calls.c
        conditions = [c.account_id == str(account_id)]
        if flt.to is not None:
            conditions.append(c.to_addr == flt.to)
        if flt.from_ is not None:
            conditions.append(c.from_addr == flt.from_)
        if flt.parent_call_id is not None:
            conditions.append(c.parent_call_id == str(flt.parent_call_id))
        if flt.status is not None:
            conditions.append(c.status == flt.status.value)
        if flt.start_after is not None:
            conditions.append(c.start_time >= codec.naive(flt.start_after))
        if flt.start_before is not None:
            conditions.append(c.start_time <= codec.naive(flt.start_before))
        if flt.end_after is not None:
            conditions.append(c.end_time >= codec.naive(flt.end_after))
        if flt.end_before is not None:
            conditions.append(c.end_time <= codec.naive(flt.end_before))
        query = _paged(select(calls).where(and_(*conditions)), calls, page)
        async with self.engine.connect() as conn:
            return _rows([codec.call_from_row(r) for r in (await conn.execute(query)).mappings()], page)

    async def update_call(
        self,
        call: Call,
        changes: dict[str, Any],
        event: CallEvent,
        now: datetime,
        callbacks: CallbacksFor | None = None,
    ) -> Call | None:
        """Apply `changes` if the call is still at the version `call` was read at, with `event` on
        its timeline and the webhooks `callbacks` makes of it in the outbox, all in one transaction.
        None if another writer changed it first: read it again and retry."""
        fields: dict[str, Any] = {k: _utc(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        moved = replace(call, **fields, updated_at=_utc(now), version=call.version + 1)
        bind = self._bind_time
        row = codec.call_row(moved, bind)
        params = (*row[1:], row[0], call.version)
        event_row = (row[0], bind(now), event.name, moved.status.value, codec.json_text(event.data))

        def write(conn: Connection) -> Call | None:
            seq = conn.exec_driver_sql(self._update_call_sql, params).scalar()
            if seq is None:
                return None
            stored = moved if moved.seq == seq else replace(moved, seq=seq)  # a row's seq never changes
            conn.exec_driver_sql(self._insert_event_sql, event_row)
            if callbacks is not None:
                sent = 0
                if stored.options.status_callback:  # SequenceNumber counts the status callbacks so far
                    sent = conn.exec_driver_sql(self._count_status_sql, (row[0],)).scalar_one()
                items = callbacks(stored, int(sent))
                if items:
                    rows = [_webhook_row(_webhook_values(item), bind) for item in items]
                    conn.exec_driver_sql(self._insert_webhook_sql, rows)
            return stored

        return await self._tx(write)

    async def delete_call(self, account_id: UUID, call_id: UUID) -> bool:
        def remove(conn: Connection) -> bool:
            result = conn.execute(
                delete(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))
            )
            if result.rowcount:
                conn.execute(delete(call_events).where(call_events.c.call_id == str(call_id)))
            return bool(result.rowcount)

        return await self._tx(remove)

    async def timeline(self, call_id: UUID) -> list[TimelineEntry]:
        query = select(call_events).where(call_events.c.call_id == str(call_id)).order_by(call_events.c.seq)
        async with self.engine.connect() as conn:
            return [
                TimelineEntry(
                    seq=r["seq"],
                    call_id=UUID(r["call_id"]),
                    at=codec.aware(r["at"]),  # type: ignore[arg-type]
                    name=r["name"],
                    status=CallStatus(r["status"]),
                    data=r["data"],
                )
                for r in (await conn.execute(query)).mappings()
            ]

    # applications

    async def insert_application(self, app: Application) -> Application:
        query = insert(applications).values(
            id=str(app.id),
            account_id=str(app.account_id),
            friendly_name=app.friendly_name,
            created_at=codec.naive(app.created_at),
            updated_at=codec.naive(app.updated_at),
            config=codec.application_config(app),
            version=app.version,
        )
        await self._tx(lambda conn: conn.execute(query))
        return app

    async def get_application(self, account_id: UUID, app_id: UUID) -> Application | None:
        query = select(applications).where(
            and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else codec.application_from_row(row)

    async def list_applications(
        self, account_id: UUID, friendly_name: str | None, page: Page
    ) -> list[Application]:
        conditions = [applications.c.account_id == str(account_id)]
        if friendly_name is not None:
            conditions.append(applications.c.friendly_name == friendly_name)
        query = _paged(select(applications).where(and_(*conditions)), applications, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return _rows([codec.application_from_row(r) for r in rows], page)

    async def update_application(self, app: Application) -> Application | None:
        """Write `app` if it is still at the version it was read at; None if it changed or went."""
        query = (
            update(applications)
            .where(
                and_(
                    applications.c.id == str(app.id),
                    applications.c.account_id == str(app.account_id),
                    applications.c.version == app.version,
                )
            )
            .values(
                friendly_name=app.friendly_name,
                updated_at=codec.naive(app.updated_at),
                config=codec.application_config(app),
                version=applications.c.version + 1,
            )
        )
        if await self._tx(lambda conn: conn.execute(query).rowcount) != 1:
            return None
        return replace(app, version=app.version + 1)

    async def delete_application(self, account_id: UUID, app_id: UUID) -> bool:
        query = delete(applications).where(
            and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
        )
        return await self._tx(lambda conn: bool(conn.execute(query).rowcount))

    # the engine: leases on calls

    async def queued_calls(self, limit: int, skip_accounts: Sequence[UUID] = ()) -> list[Call]:
        """The oldest queued API calls nobody has claimed, leaving out `skip_accounts` (accounts at
        their rate: their backlog must not hide the calls of the others)."""
        claimed = exists().where(call_runs.c.call_id == calls.c.id)
        conditions = [
            calls.c.status == CallStatus.QUEUED.value,
            calls.c.direction == "outbound-api",  # a <Dial>'s calls are run by their parent
            ~claimed,
        ]
        if skip_accounts:
            conditions.append(calls.c.account_id.not_in([str(a) for a in skip_accounts]))
        query = select(calls).where(and_(*conditions)).order_by(calls.c.seq).limit(limit)
        return await self._read(lambda conn: [codec.call_from_row(r) for r in conn.execute(query).mappings()])

    async def claim_call(self, call_id: UUID, owner: str, now: datetime, lease_until: datetime) -> bool:
        """Claim a queued call for `owner`: the run row's primary key makes the claim exclusive.

        On PostgreSQL the call's row is locked with SKIP LOCKED first, so workers racing for the same
        call do not queue up behind each other: the losers skip it at once.
        """
        key = {"call_id": str(call_id)}
        claimed = codec.naive(now)
        run = {**key, "owner": owner, "claimed_at": claimed, "lease_until": codec.naive(lease_until),
               "alive_at": claimed}  # fmt: skip

        def claim(conn: Connection) -> bool:
            if conn.execute(self._call_status, key).scalar_one_or_none() != CallStatus.QUEUED.value:
                return False
            if conn.execute(_RUN_OWNER, key).first() is not None:
                return False
            conn.execute(_NEW_RUN, run)
            return True

        try:
            return await self._tx(claim)
        except sqlalchemy.exc.IntegrityError:
            return False

    async def renew_runs(self, owner: str, lease_until: datetime, alive_at: datetime | None = None) -> None:
        """The heartbeat of `owner`: its runs are held until `lease_until`; `alive_at`, when given, is
        the time it was known alive running them."""
        values: dict[str, Any] = {"lease_until": codec.naive(lease_until)}
        if alive_at is not None:
            values["alive_at"] = codec.naive(alive_at)
        query = update(call_runs).where(call_runs.c.owner == owner).values(**values)
        await self._tx(lambda conn: conn.execute(query))

    async def end_run(self, call_id: UUID) -> None:
        key = {"call_id": str(call_id)}
        await self._tx(lambda conn: conn.execute(_END_RUN, key))

    async def expired_runs(self, now: datetime, limit: int) -> list[Run]:
        query = (
            select(call_runs)
            .where(call_runs.c.lease_until < codec.naive(now))
            .order_by(call_runs.c.lease_until)
            .limit(limit)
        )
        return await self._read(lambda conn: [_run_from_row(r) for r in conn.execute(query).mappings()])

    async def take_over_run(self, run: Run, owner: str, lease_until: datetime) -> bool:
        """Move an expired run to `owner` if nobody else took it over first."""
        query = (
            update(call_runs)
            .where(
                and_(
                    call_runs.c.call_id == str(run.call_id),
                    call_runs.c.owner == run.owner,
                    call_runs.c.lease_until == codec.naive(run.lease_until),
                )
            )
            .values(owner=owner, lease_until=codec.naive(lease_until))
        )
        return await self._tx(lambda conn: bool(conn.execute(query).rowcount == 1))

    async def call_versions(self, call_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The current version of each of these calls (a worker's cheap look for changes made elsewhere)."""
        if not call_ids:
            return {}
        ids = {"ids": [str(i) for i in call_ids]}
        return await self._read(
            lambda conn: {UUID(row.id): row.version for row in conn.execute(_CALL_VERSIONS, ids)}
        )

    async def call_by_id(self, call_id: UUID) -> Call | None:
        key = {"call_id": str(call_id)}

        def read(conn: Connection) -> Call | None:
            row = conn.execute(_CALL_BY_ID, key).mappings().first()
            return None if row is None else codec.call_from_row(row)

        return await self._read(read)

    # the outbox

    async def add_webhooks(self, items: Sequence[Outgoing]) -> None:
        if not items:
            return
        rows = [_webhook_row(_webhook_values(item), self._bind_time) for item in items]
        await self._tx(lambda conn: conn.exec_driver_sql(self._insert_webhook_sql, rows))

    async def claim_webhooks(self, now: datetime, lease_until: datetime, limit: int) -> list[Outgoing]:
        """Pending webhooks that are due and not held by another dispatcher, now held until
        `lease_until` (PostgreSQL: SKIP LOCKED, so dispatchers on several nodes share the outbox)."""
        due = {"now": codec.naive(now), "limit": limit}
        until = codec.naive(lease_until)

        def claim(conn: Connection) -> list[Outgoing]:
            rows = list(conn.execute(self._due_webhooks, due).mappings())
            if not rows:
                return []
            conn.execute(_LEASE_WEBHOOKS, {"seqs": [r["seq"] for r in rows], "until": until})
            return [_webhook_from_row(r) for r in rows]

        return await self._tx(claim)

    async def settle_webhook(
        self,
        item_id: UUID,
        *,
        state: str,
        attempts: int,
        due_at: datetime,
        last_status: int | None,
        log: Sequence[RequestRecord] = (),
        first_attempt_at: datetime | None = None,
    ) -> None:
        """Record a delivery's outcome, and its attempts in the request log, in one transaction. The
        first delivery's start is kept once written (`first_attempt_at`: the retry horizon's origin)."""
        logged = [_request_row(_request_values(r), self._bind_time) for r in log]
        first = self._bind_time(first_attempt_at)
        outcome = (state, attempts, self._bind_time(due_at), last_status, first, str(item_id))

        def settle(conn: Connection) -> None:
            if logged:
                conn.exec_driver_sql(self._insert_request_sql, logged)
            conn.exec_driver_sql(self._settle_webhook_sql, outcome)

        await self._tx(settle)

    async def renew_webhooks(self, item_ids: Sequence[UUID], lease_until: datetime) -> None:
        """Hold the callbacks being delivered a while longer (the dispatcher's heartbeat)."""
        if not item_ids:
            return
        query = (
            update(webhooks)
            .where(and_(webhooks.c.id.in_([str(i) for i in item_ids]), webhooks.c.state == "pending"))
            .values(lease_until=codec.naive(lease_until))
        )
        await self._tx(lambda conn: conn.execute(query))

    async def webhooks_of(self, call_id: UUID) -> list[Outgoing]:
        query = select(webhooks).where(webhooks.c.call_id == str(call_id)).order_by(webhooks.c.seq)
        async with self.engine.connect() as conn:
            return [_webhook_from_row(r) for r in (await conn.execute(query)).mappings()]

    # what happened

    async def log_request(self, record: RequestRecord) -> None:
        row = _request_row(_request_values(record), self._bind_time)
        await self._tx(lambda conn: conn.exec_driver_sql(self._insert_request_sql, row))

    async def requests_of(self, call_id: UUID) -> list[RequestRecord]:
        log = requests_log.c
        query = select(requests_log).where(log.call_id == str(call_id)).order_by(log.seq)
        async with self.engine.connect() as conn:
            return [_request_from_row(r) for r in (await conn.execute(query)).mappings()]

    async def add_notification(self, record: NotificationRecord) -> None:
        query = insert(notifications).values(
            id=str(record.id),
            account_id=str(record.account_id),
            call_id=None if record.call_id is None else str(record.call_id),
            created_at=codec.naive(record.created_at),
            level=record.level,
            code=record.code,
            message=record.message,
            request_url=record.request_url,
            request_method=record.request_method,
            detail=record.detail or {},
        )
        await self._tx(lambda conn: conn.execute(query))

    # recordings

    async def insert_recording(self, recording: Recording) -> Recording:
        query = insert(recordings).values(**_recording_values(recording))
        await self._tx(lambda conn: conn.execute(query))
        return recording

    async def update_recording(self, recording: Recording) -> Recording | None:
        """Write every field of `recording` over its row; None if the row is gone."""
        values = _recording_values(recording)
        for key in ("id", "account_id", "created_at"):
            del values[key]
        rec = recordings.c
        where = and_(rec.id == str(recording.id), rec.account_id == str(recording.account_id))
        query = update(recordings).where(where).values(**values)
        if await self._tx(lambda conn: conn.execute(query).rowcount) != 1:
            return None
        return recording

    async def get_recording(self, account_id: UUID, recording_id: UUID) -> Recording | None:
        rec = recordings.c
        query = select(recordings).where(and_(rec.id == str(recording_id), rec.account_id == str(account_id)))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else _recording_from_row(row)

    async def list_recordings(
        self, account_id: UUID, call_id: UUID | None, flt: RecordingFilter, page: Page
    ) -> list[Recording]:
        rec = recordings.c
        conditions = [rec.account_id == str(account_id)]
        if call_id is not None:
            conditions.append(rec.call_id == str(call_id))
        if flt.created_after is not None:
            conditions.append(rec.created_at >= codec.naive(flt.created_after))
        if flt.created_before is not None:
            conditions.append(rec.created_at <= codec.naive(flt.created_before))
        query = _paged(select(recordings).where(and_(*conditions)), recordings, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return _rows([_recording_from_row(r) for r in rows], page)

    async def delete_recording(self, account_id: UUID, recording_id: UUID) -> bool:
        rec = recordings.c
        where = and_(rec.id == str(recording_id), rec.account_id == str(account_id))
        query = delete(recordings).where(where)
        return await self._tx(lambda conn: bool(conn.execute(query).rowcount))

    async def control_recording(
        self, account_id: UUID, recording_id: UUID, status: str, pause_behavior: str | None, at: datetime
    ) -> Recording | None:
        rec = recordings.c
        where = and_(
            rec.id == str(recording_id),
            rec.account_id == str(account_id),
            rec.status.in_(("in-progress", "paused")),
        )
        values: dict[str, Any] = {"status": status, "updated_at": codec.naive(at)}
        if pause_behavior is not None:
            values["pause_behavior"] = pause_behavior
        change = update(recordings).where(where).values(**values)
        read = select(recordings).where(rec.id == str(recording_id))

        def control(conn: Connection) -> Recording | None:
            if conn.execute(change).rowcount != 1:
                return None
            row = conn.execute(read).mappings().first()
            return None if row is None else _recording_from_row(row)

        return await self._tx(control)

    # request log: the call's Events and the Notifications resources, paged and filtered

    async def list_requests(self, account_id: UUID, call_id: UUID, page: Page) -> list[RequestRecord]:
        """A call's request records in the order they were made (oldest first), one page of them.

        A request record has no id of its own: the markers of `page` name a row as `UUID(int=seq)`,
        `after` taking the records made after it, `before` those made just before it.
        """
        log = requests_log.c
        query = select(requests_log).where(
            and_(log.account_id == str(account_id), log.call_id == str(call_id))
        )
        if page.before is not None:
            query = query.where(log.seq < self._seq_of(page.before)).order_by(log.seq.desc()).limit(page.size)
        else:
            query = query.order_by(log.seq.asc()).limit(page.size)
            if page.after is not None:
                query = query.where(log.seq > self._seq_of(page.after))
            else:
                query = query.offset(page.offset)
        async with self.engine.connect() as conn:
            records = [_request_from_row(r) for r in (await conn.execute(query)).mappings()]
        return records[::-1] if page.before is not None else records

    async def get_notification(self, account_id: UUID, notification_id: UUID) -> NotificationRecord | None:
        note = notifications.c
        where = and_(note.id == str(notification_id), note.account_id == str(account_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(notifications).where(where))).mappings().first()
            return None if row is None else _notification_from_row(row)

    async def search_notifications(
        self,
        account_id: UUID,
        call_id: UUID | None,
        page: Page,
        *,
        level: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[NotificationRecord]:
        """Notifications newest first, of one level and within inclusive creation bounds if given."""
        note = notifications.c
        conditions = [note.account_id == str(account_id)]
        if call_id is not None:
            conditions.append(note.call_id == str(call_id))
        if level is not None:
            conditions.append(note.level == level)
        if created_after is not None:
            conditions.append(note.created_at >= codec.naive(created_after))
        if created_before is not None:
            conditions.append(note.created_at <= codec.naive(created_before))
        query = _paged(select(notifications).where(and_(*conditions)), notifications, page)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings()
            return _rows([_notification_from_row(r) for r in rows], page)

    @staticmethod
    def _seq_of(marker: UUID) -> int:
        """The seq a request-log page marker names, kept within BIGINT (a foreign token matches nothing)."""
        return min(marker.int, 2**63 - 1)


def _recording_values(recording: Recording) -> dict[str, Any]:
    return {
        "id": str(recording.id),
        "account_id": str(recording.account_id),
        "call_id": None if recording.call_id is None else str(recording.call_id),
        "conference_id": None if recording.conference_id is None else str(recording.conference_id),
        "created_at": codec.naive(recording.created_at),
        "updated_at": codec.naive(recording.updated_at),
        "start_time": codec.naive(recording.start_time),
        "duration_s": recording.duration_s,
        "channels": recording.channels,
        "source": recording.source,
        "track": recording.track,
        "status": recording.status,
        "path": recording.path,
        "error_code": recording.error_code,
        "price": recording.price,
        "price_unit": recording.price_unit,
        "api_version": recording.api_version,
        "status_callback": recording.status_callback,
        "status_callback_method": recording.status_callback_method,
        "status_callback_events": " ".join(recording.status_callback_events),
        "trim": recording.trim,
        "pause_behavior": recording.pause_behavior,
    }


def _recording_from_row(r: Any) -> Recording:
    return Recording(
        id=UUID(r["id"]),
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        created_at=codec.aware(r["created_at"]),  # type: ignore[arg-type]
        updated_at=codec.aware(r["updated_at"]),  # type: ignore[arg-type]
        source=r["source"],
        status=r["status"],
        channels=r["channels"],
        track=r["track"],
        start_time=codec.aware(r["start_time"]),
        duration_s=r["duration_s"],
        path=r["path"],
        error_code=r["error_code"],
        conference_id=UUID(r["conference_id"]) if r["conference_id"] else None,
        price=r["price"],
        price_unit=r["price_unit"],
        api_version=r["api_version"],
        status_callback=r["status_callback"],
        status_callback_method=r["status_callback_method"],
        status_callback_events=tuple(r["status_callback_events"].split()),
        trim=bool(r["trim"]),
        pause_behavior=r["pause_behavior"],
        seq=r["seq"],
    )


def _request_values(record: RequestRecord) -> dict[str, Any]:
    return {
        "account_id": str(record.account_id),
        "call_id": None if record.call_id is None else str(record.call_id),
        "kind": record.kind,
        "at": codec.naive(record.at),
        "request": record.request,
        "response": record.response,
        "elapsed_ms": record.elapsed_ms,
        "error_code": record.error_code,
    }


def _request_from_row(r: Any) -> RequestRecord:
    return RequestRecord(
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        kind=r["kind"],
        at=codec.aware(r["at"]),  # type: ignore[arg-type]
        request=r["request"],
        response=r["response"],
        elapsed_ms=r["elapsed_ms"],
        error_code=r["error_code"],
        seq=r["seq"],
    )


def _notification_from_row(r: Any) -> NotificationRecord:
    return NotificationRecord(
        id=UUID(r["id"]),
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        created_at=codec.aware(r["created_at"]),  # type: ignore[arg-type]
        level=r["level"],
        code=r["code"],
        message=r["message"],
        request_url=r["request_url"],
        request_method=r["request_method"],
        detail=r["detail"],
        seq=r["seq"],
    )


def _run_from_row(r: Any) -> Run:
    return Run(
        call_id=UUID(r["call_id"]),
        owner=r["owner"],
        claimed_at=codec.aware(r["claimed_at"]),  # type: ignore[arg-type]
        lease_until=codec.aware(r["lease_until"]),  # type: ignore[arg-type]
        alive_at=codec.aware(r["alive_at"]),
    )


def _webhook_values(item: Outgoing) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "account_id": str(item.account_id),
        "call_id": None if item.call_id is None else str(item.call_id),
        "kind": item.kind,
        "dialect": item.dialect,
        "url": item.url,
        "method": item.method,
        "params": [list(pair) for pair in item.params],
        "created_at": codec.naive(item.created_at),
        "due_at": codec.naive(item.due_at),
        "attempts": item.attempts,
        "state": item.state,
        "lease_until": codec.naive(item.lease_until),
        "last_status": item.last_status,
        "first_attempt_at": codec.naive(item.first_attempt_at),
    }


def _utc(at: datetime) -> datetime:
    """A time as it reads back from the tables: aware UTC (a naive one is taken as UTC)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


_webhook_row = codec.row_writer(webhooks)
_request_row = codec.row_writer(requests_log)


def _webhook_from_row(r: Any) -> Outgoing:
    return Outgoing(
        id=UUID(r["id"]),
        account_id=UUID(r["account_id"]),
        call_id=UUID(r["call_id"]) if r["call_id"] else None,
        kind=r["kind"],
        dialect=r["dialect"],
        url=r["url"],
        method=r["method"],
        params=tuple((str(k), str(v)) for k, v in r["params"]),
        created_at=codec.aware(r["created_at"]),  # type: ignore[arg-type]
        due_at=codec.aware(r["due_at"]),  # type: ignore[arg-type]
        attempts=r["attempts"],
        state=r["state"],
        last_status=r["last_status"],
        first_attempt_at=codec.aware(r["first_attempt_at"]),
    )


__all__ = ["SqlStore", "async_url"]
