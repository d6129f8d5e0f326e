"""The SQL store: SQLAlchemy Core on an async engine, SQLite (aiosqlite) or PostgreSQL (asyncpg).

Every change to a call is a compare-and-set on its status, written together with its timeline
event in one transaction, so two writers (an API node and a worker) can never both move a call.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import orjson
from sqlalchemy import and_, delete, event, insert, select, update
from sqlalchemy.engine import Connection, RowMapping, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callgate.core.call import (
    APPLICATION_FIELDS,
    Account,
    Application,
    Call,
    CallFilter,
    CallOptions,
    CallQuality,
)
from callgate.core.events import CallEvent
from callgate.core.status import CallStatus
from callgate.store.base import Page, TimelineEntry
from callgate.store.batch import InsertBatcher
from callgate.store.tables import accounts, applications, call_events, calls

log = logging.getLogger(__name__)


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


def _naive(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _aware(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


_QUALITY_KEYS = tuple(CallQuality.__dataclass_fields__)


def _call_from_row(row: RowMapping) -> Call:
    quality = row["quality"] or {}
    return Call(
        id=UUID(row["id"]),
        account_id=UUID(row["account_id"]),
        parent_call_id=_uuid(row["parent_call_id"]),
        status=CallStatus(row["status"]),
        direction=row["direction"],
        to=row["to_addr"],
        from_=row["from_addr"],
        created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_aware(row["updated_at"]),  # type: ignore[arg-type]
        start_time=_aware(row["start_time"]),
        end_time=_aware(row["end_time"]),
        duration_s=row["duration_s"],
        price=row["price"],
        price_unit=row["price_unit"],
        answered_by=row["answered_by"],
        api_version=row["api_version"],
        queue_time_ms=row["queue_time_ms"],
        sip_call_id=row["sip_call_id"],
        sip_result_code=row["sip_result_code"],
        quality=CallQuality(**{k: quality.get(k) for k in _QUALITY_KEYS}),
        options=CallOptions.from_json(row["options"]),
        seq=row["seq"],
    )


_CALL_COLUMNS = {
    "parent_call_id": "parent_call_id",
    "status": "status",
    "direction": "direction",
    "to": "to_addr",
    "from_": "from_addr",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "start_time": "start_time",
    "end_time": "end_time",
    "duration_s": "duration_s",
    "price": "price",
    "price_unit": "price_unit",
    "answered_by": "answered_by",
    "api_version": "api_version",
    "queue_time_ms": "queue_time_ms",
    "sip_call_id": "sip_call_id",
    "sip_result_code": "sip_result_code",
    "quality": "quality",
    "options": "options",
}


def _call_values(changes: dict[str, Any]) -> dict[str, Any]:
    """Column values for a dict of `Call` field changes."""
    values: dict[str, Any] = {}
    for name, value in changes.items():
        column = _CALL_COLUMNS[name]
        if isinstance(value, datetime):
            value = _naive(value)
        elif isinstance(value, UUID):
            value = str(value)
        elif isinstance(value, CallStatus):
            value = value.value
        elif isinstance(value, CallOptions):
            value = value.to_json()
        elif isinstance(value, CallQuality):
            value = {k: getattr(value, k) for k in _QUALITY_KEYS}
        values[column] = value
    return values


_CALL_INSERT_COLUMNS = (
    "id", "account_id", "parent_call_id", "status", "direction", "to_addr", "from_addr", "created_at",
    "updated_at", "start_time", "end_time", "duration_s", "price", "price_unit", "answered_by", "api_version",
    "queue_time_ms", "sip_call_id", "sip_result_code", "quality", "options",
)  # fmt: skip


def _insert_sql(paramstyle: str, table: str, columns: Sequence[str]) -> str:
    if paramstyle == "qmark":
        marks = ", ".join("?" for _ in columns)
    elif paramstyle in {"numeric_dollar", "numeric"}:
        prefix = "$" if paramstyle == "numeric_dollar" else ":"
        marks = ", ".join(f"{prefix}{i}" for i in range(1, len(columns) + 1))
    elif paramstyle == "format":
        marks = ", ".join("%s" for _ in columns)
    else:  # pragma: no cover - every driver we support is listed above
        raise ValueError(f"unsupported paramstyle {paramstyle}")
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_time(dt: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME text form, "2026-11-22 16:00:00.000000"
    naive = _naive(dt)
    return None if naive is None else naive.isoformat(sep=" ", timespec="microseconds")


def _account_from_row(row: RowMapping) -> Account:
    return Account(
        id=UUID(row["id"]),
        name=row["name"],
        created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
        auth_token=row["auth_token"],
        signalwire_token=row["signalwire_token"],
        bandwidth_account_id=row["bandwidth_account_id"],
        bandwidth_username=row["bandwidth_username"],
        bandwidth_password=row["bandwidth_password"],
    )


def _application_from_row(row: RowMapping) -> Application:
    config = row["config"] or {}
    return Application(
        id=UUID(row["id"]),
        account_id=UUID(row["account_id"]),
        created_at=_aware(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_aware(row["updated_at"]),  # type: ignore[arg-type]
        seq=row["seq"],
        **{k: config[k] for k in APPLICATION_FIELDS if k in config and k != "friendly_name"},
        friendly_name=row["friendly_name"],
    )


def _paged(query: Any, seq_column: Any, page: Page) -> Any:
    if page.before_seq is not None:
        # The previous page: the oldest `size` rows newer than the marker, flipped back by `_rows`.
        return query.where(seq_column > page.before_seq).order_by(seq_column.asc()).limit(page.size)
    query = query.order_by(seq_column.desc()).limit(page.size)
    if page.after_seq is not None:
        return query.where(seq_column < page.after_seq)
    return query.offset(page.offset)


def _rows(rows: list[Any], page: Page) -> list[Any]:
    return rows[::-1] if page.before_seq is not None else rows


class SqlStore:
    """The `Store` on SQLAlchemy Core. `open()` runs the Alembic migrations to head."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(async_url(url), echo=echo)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sqlite_writer = SqliteWriter(self.engine.url.database or ":memory:") if self.is_sqlite else None
        self._inserts = InsertBatcher(
            self._write_call_batch if self._sqlite_writer is None else self._sqlite_writer.write_call_batch
        )
        self._insert_call_sql = _insert_sql(self.engine.dialect.paramstyle, "calls", _CALL_INSERT_COLUMNS)
        self._insert_event_sql = _insert_sql(
            self.engine.dialect.paramstyle, "call_events", ("call_id", "at", "name", "status", "data")
        )
        # How a datetime is bound without SQLAlchemy's type processing: SQLite keeps SQLAlchemy's
        # DATETIME text form, asyncpg takes naive UTC datetimes.
        self._bind_time: Any = _sqlite_time if self.is_sqlite else _naive
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)

    async def open(self) -> None:
        from callgate.store.migrate import upgrade

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self._inserts.close()
        if self._sqlite_writer is not None:
            self._sqlite_writer.close()
        await self.engine.dispose()

    # accounts

    async def create_account(self, account: Account) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(accounts).values(
                    id=str(account.id),
                    name=account.name,
                    created_at=_naive(account.created_at),
                    auth_token=account.auth_token,
                    signalwire_token=account.signalwire_token,
                    bandwidth_account_id=account.bandwidth_account_id,
                    bandwidth_username=account.bandwidth_username,
                    bandwidth_password=account.bandwidth_password,
                )
            )

    async def list_accounts(self) -> list[Account]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).mappings()
            return [_account_from_row(r) for r in rows]

    async def get_account(self, account_id: UUID) -> Account | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(accounts).where(accounts.c.id == str(account_id))))
                .mappings()
                .first()
            )
            return None if row is None else _account_from_row(row)

    # calls

    async def insert_call(self, call: Call, event: CallEvent, now: datetime) -> Call:
        """Store a new call with its first event (group-committed with concurrent inserts).

        The returned call has no `seq` yet; reading it back gives it one.
        """
        when = self._bind_time
        created = when(call.created_at)
        call_row = (
            str(call.id),
            str(call.account_id),
            None if call.parent_call_id is None else str(call.parent_call_id),
            call.status.value,
            call.direction,
            call.to,
            call.from_,
            created,
            created if call.updated_at == call.created_at else when(call.updated_at),
            when(call.start_time),
            when(call.end_time),
            call.duration_s,
            call.price,
            call.price_unit,
            call.answered_by,
            call.api_version,
            call.queue_time_ms,
            call.sip_call_id,
            call.sip_result_code,
            _json_text({k: getattr(call.quality, k) for k in _QUALITY_KEYS}),
            _json_text(call.options.to_json()),
        )
        event_row = (
            str(call.id),
            created if now == call.created_at else when(now),
            event.name,
            call.status.value,
            _json_text(event.data),
        )
        await self._inserts.submit((call_row, event_row))
        return call

    async def _write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        # Plain executemany with SQL compiled once: the request path's one write, kept lean.
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(self._insert_call_sql, [call_row for call_row, _ in batch])
            await conn.exec_driver_sql(self._insert_event_sql, [event_row for _, event_row in batch])

    async def get_call(self, account_id: UUID, call_id: UUID) -> Call | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(calls).where(
                            and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id))
                        )
                    )
                )
                .mappings()
                .first()
            )
            return None if row is None else _call_from_row(row)

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
            conditions.append(c.start_time >= _naive(flt.start_after))
        if flt.start_before is not None:
            conditions.append(c.start_time <= _naive(flt.start_before))
        if flt.end_after is not None:
            conditions.append(c.end_time >= _naive(flt.end_after))
        if flt.end_before is not None:
            conditions.append(c.end_time <= _naive(flt.end_before))
        query = _paged(select(calls).where(and_(*conditions)), c.seq, page)
        async with self.engine.connect() as conn:
            return _rows([_call_from_row(r) for r in (await conn.execute(query)).mappings()], page)

    async def update_call(
        self,
        call_id: UUID,
        expected: CallStatus,
        changes: dict[str, Any],
        event: CallEvent,
        now: datetime,
    ) -> Call | None:
        """Apply `changes` if the call is still `expected`; None if another writer moved it first."""
        changes = {**changes, "updated_at": now}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(calls)
                .where(and_(calls.c.id == str(call_id), calls.c.status == expected.value))
                .values(**_call_values(changes))
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(select(calls).where(calls.c.id == str(call_id)))).mappings().one()
            call = _call_from_row(row)
            await self._add_event(conn, call_id, call.status, event, now)
            return call

    async def delete_call(self, account_id: UUID, call_id: UUID) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(calls).where(and_(calls.c.id == str(call_id), calls.c.account_id == str(account_id)))
            )
            if result.rowcount:
                await conn.execute(delete(call_events).where(call_events.c.call_id == str(call_id)))
            return bool(result.rowcount)

    async def timeline(self, call_id: UUID) -> list[TimelineEntry]:
        query = select(call_events).where(call_events.c.call_id == str(call_id)).order_by(call_events.c.seq)
        async with self.engine.connect() as conn:
            return [
                TimelineEntry(
                    seq=r["seq"],
                    call_id=UUID(r["call_id"]),
                    at=_aware(r["at"]),  # type: ignore[arg-type]
                    name=r["name"],
                    status=CallStatus(r["status"]),
                    data=r["data"],
                )
                for r in (await conn.execute(query)).mappings()
            ]

    async def _add_event(
        self, conn: Any, call_id: UUID, status: CallStatus, event: CallEvent, now: datetime
    ) -> None:
        await conn.execute(
            insert(call_events).values(
                call_id=str(call_id), at=_naive(now), name=event.name, status=status.value, data=event.data
            )
        )

    # applications

    async def insert_application(self, app: Application) -> Application:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(applications).values(
                    id=str(app.id),
                    account_id=str(app.account_id),
                    friendly_name=app.friendly_name,
                    created_at=_naive(app.created_at),
                    updated_at=_naive(app.updated_at),
                    config=_application_config(app),
                )
            )
            seq = result.inserted_primary_key[0]  # type: ignore[index]
        return _replace_seq(app, seq)

    async def get_application(self, account_id: UUID, app_id: UUID) -> Application | None:
        query = select(applications).where(
            and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else _application_from_row(row)

    async def list_applications(
        self, account_id: UUID, friendly_name: str | None, page: Page
    ) -> list[Application]:
        conditions = [applications.c.account_id == str(account_id)]
        if friendly_name is not None:
            conditions.append(applications.c.friendly_name == friendly_name)
        query = _paged(select(applications).where(and_(*conditions)), applications.c.seq, page)
        async with self.engine.connect() as conn:
            return _rows([_application_from_row(r) for r in (await conn.execute(query)).mappings()], page)

    async def update_application(self, app: Application) -> Application | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(applications)
                .where(
                    and_(applications.c.id == str(app.id), applications.c.account_id == str(app.account_id))
                )
                .values(
                    friendly_name=app.friendly_name,
                    updated_at=_naive(app.updated_at),
                    config=_application_config(app),
                )
            )
            return app if result.rowcount == 1 else None

    async def delete_application(self, account_id: UUID, app_id: UUID) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(applications).where(
                    and_(applications.c.id == str(app_id), applications.c.account_id == str(account_id))
                )
            )
            return bool(result.rowcount)


def _application_config(app: Application) -> dict[str, Any]:
    return {k: getattr(app, k) for k in APPLICATION_FIELDS if k != "friendly_name"}


R = TypeVar("R", Call, Application)


def _replace_seq(record: R, seq: int) -> R:
    return replace(record, seq=seq)


class SqliteWriter:
    """The SQLite write path for new calls: one stdlib connection on one thread of its own.

    Each batch is one hop to that thread and one transaction, instead of a hop per statement
    through aiosqlite, which keeps the event loop and the writer from trading the GIL per row.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="callgate-sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        dialect_sql = partial(_insert_sql, "qmark")
        self._call_sql = dialect_sql("calls", _CALL_INSERT_COLUMNS)
        self._event_sql = dialect_sql("call_events", ("call_id", "at", "name", "status", "data"))

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            _sqlite_pragmas(conn, None)
            self._conn = conn
        return self._conn

    def _write(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._call_sql, [call_row for call_row, _ in batch])
            conn.executemany(self._event_sql, [event_row for _, event_row in batch])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def write_call_batch(self, batch: Sequence[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write, batch)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable across a process crash.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


async def open_store(url: str) -> SqlStore:
    """Create the store for `url` and bring its schema to the newest migration."""
    store = SqlStore(url)
    await store.open()
    return store


__all__ = ["Connection", "SqlStore", "async_url", "open_store"]
