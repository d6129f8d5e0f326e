"""The PostgreSQL inserter: new calls in one round trip a batch, on connections of its own, against
the local PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from callgate.core.call import Call
from callgate.core.events import CallQueued
from callgate.store import SqlStore, codec
from callgate.store.pg_insert import PgInserter, insert_both_sql
from callgate.store.tables import call_events, calls
from tests.conftest import PG_HOST, PG_USER, PostgresDatabase
from tests.store.test_sqlite_writer import make_call

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

CALL_COLUMNS, EVENT_COLUMNS = codec.insert_columns(calls), codec.insert_columns(call_events)
SQL = insert_both_sql(calls.name, CALL_COLUMNS, call_events.name, EVENT_COLUMNS)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A database with the project's schema (the store's migrations)."""
    db = PostgresDatabase()

    async def migrate() -> None:
        store = SqlStore(db.url)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    try:
        yield db.url
    finally:
        db.drop()


def connector(url: str, opened: list[Any] | None = None) -> Any:
    database = url.rsplit("/", 1)[1]

    async def connect() -> Any:
        conn = await asyncpg.connect(host=PG_HOST, user=PG_USER, database=database)
        if opened is not None:
            opened.append(conn)
        return conn

    return connect


@pytest.fixture
async def admin(pg_url: str) -> AsyncIterator[Any]:
    conn = await connector(pg_url)()
    yield conn
    await conn.close()


def rows(call: Call) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return codec.call_rows(call, CallQueued(), call.created_at, codec.naive)


async def stored(admin: Any, batch: list[Call]) -> tuple[int, int]:
    ids = [str(c.id) for c in batch]
    n_calls = await admin.fetchval("SELECT count(*) FROM calls WHERE id = any($1::text[])", ids)
    n_events = await admin.fetchval("SELECT count(*) FROM call_events WHERE call_id = any($1::text[])", ids)
    return n_calls, n_events


def test_the_statement_numbers_the_event_after_the_call() -> None:
    sql = insert_both_sql("c", ("a", "b"), "e", ("x", "y", "z"))
    assert sql == (
        "WITH new_call AS (INSERT INTO c (a, b) VALUES ($1, $2)) INSERT INTO e (x, y, z) VALUES ($3, $4, $5)"
    )
    numbers = [int(part.split(",")[0].split(")")[0]) for part in SQL.split("$")[1:]]
    assert numbers == list(range(1, len(CALL_COLUMNS) + len(EVENT_COLUMNS) + 1))


async def test_a_batch_commits_both_rows_of_every_call(pg_url: str, admin: Any) -> None:
    inserter = PgInserter(connector(pg_url), SQL)
    batch = [make_call(n) for n in range(5)]
    await inserter.start([rows(c) for c in batch])
    assert await stored(admin, batch) == (5, 5)
    row = await admin.fetchrow("SELECT status, to_addr, options FROM calls WHERE id = $1", str(batch[2].id))
    assert (row["status"], row["to_addr"]) == ("queued", batch[2].to)
    assert '"url":"https://example.com/voice"' in row["options"]
    await inserter.close()


class Counting(PgInserter):
    """The inserter, noting how many rows each statement it sends carries; `before(n)` runs before
    the n-th (from 0)."""

    def __init__(self, *args: Any, before: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements: list[int] = []
        self.before = before

    async def _execute(self, conn: Any, rows: Any) -> None:
        if self.before is not None:
            await self.before(len(self.statements), conn)
        self.statements.append(len(rows))
        await super()._execute(conn, rows)


async def test_batches_beyond_the_connections_wait_and_leave_together(pg_url: str, admin: Any) -> None:
    opened: list[Any] = []
    inserter = Counting(connector(pg_url, opened), SQL, connections=2)
    batches = [[make_call(n) for n in range(3)] for _ in range(10)]
    futures = [inserter.start([rows(c) for c in batch]) for batch in batches]
    await asyncio.gather(*futures)
    assert len(opened) <= 2
    assert sum(inserter.statements) == 30 and len(inserter.statements) < 10  # merged
    assert await stored(admin, [c for batch in batches for c in batch]) == (30, 30)
    more = [[make_call(n) for n in range(2)] for _ in range(3)]
    await asyncio.gather(*(inserter.start([rows(c) for c in batch]) for batch in more))
    assert len(opened) <= 2  # the connections are kept for the next batches
    assert await stored(admin, [c for batch in more for c in batch]) == (6, 6)
    await inserter.close()
    assert all(conn.is_closed() for conn in opened)


async def test_a_bad_row_fails_only_its_own_batch(pg_url: str, admin: Any) -> None:
    taken = make_call(0)
    inserter = PgInserter(connector(pg_url), SQL, connections=1)
    await inserter.start([rows(taken)])
    good_before, good_after = [make_call(1), make_call(2)], [make_call(3)]
    bad = [make_call(4), make_call(5, id=taken.id)]  # the second row's id is taken
    # One connection: the three batches wait together for it and leave as one statement.
    outcomes = await asyncio.gather(
        inserter.start([rows(c) for c in good_before]),
        inserter.start([rows(c) for c in bad]),
        inserter.start([rows(c) for c in good_after]),
        return_exceptions=True,
    )
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], asyncpg.UniqueViolationError)
    assert await stored(admin, good_before + good_after) == (3, 3)
    assert await stored(admin, bad[:1]) == (0, 0)  # all of its batch or nothing
    await inserter.close()


async def test_a_connection_killed_mid_batch_fails_it_and_the_next_opens_anew(
    pg_url: str, admin: Any
) -> None:
    opened: list[Any] = []
    inserter = PgInserter(connector(pg_url, opened), SQL, connections=1)
    first = [make_call(0)]
    await inserter.start([rows(c) for c in first])
    pid = opened[0].get_server_pid()
    locker = await connector(pg_url)()
    lock = locker.transaction()
    await lock.start()
    await locker.execute("LOCK TABLE calls IN SHARE ROW EXCLUSIVE MODE")  # inserts wait for it
    lost = [make_call(1)]
    waiting = inserter.start([rows(c) for c in lost])
    for _ in range(500):  # until the batch is in the server, waiting for the lock
        state = await admin.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
        if state == "Lock":
            break
        await asyncio.sleep(0.01)
    assert state == "Lock"
    assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)  # waits for it to end
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)):
        await waiting
    await lock.rollback()
    await locker.close()
    after = [make_call(2), make_call(3)]
    await inserter.start([rows(c) for c in after])
    assert len(opened) == 2 and opened[1].get_server_pid() != pid
    assert await stored(admin, first + after) == (3, 3)
    assert await stored(admin, lost) == (0, 0)
    await inserter.close()


async def test_a_server_that_refuses_fails_every_waiting_batch() -> None:
    async def refuse() -> Any:
        raise ConnectionRefusedError("no server")

    inserter = PgInserter(refuse, SQL, connections=1)
    outcomes = await asyncio.gather(
        inserter.start([rows(make_call(0))]), inserter.start([rows(make_call(1))]), return_exceptions=True
    )
    assert all(isinstance(o, ConnectionRefusedError) for o in outcomes)
    await inserter.close()


async def test_close_waits_for_the_batches_in_flight(pg_url: str, admin: Any) -> None:
    inserter = PgInserter(connector(pg_url), SQL)
    batch = [make_call(n) for n in range(4)]
    future = inserter.start([rows(c) for c in batch])
    await inserter.close()
    assert future.done() and future.exception() is None
    assert await stored(admin, batch) == (4, 4)
    late = inserter.start([rows(make_call(9))])
    with pytest.raises(RuntimeError, match="closed"):
        await late


async def test_the_store_writes_new_calls_through_it_and_fails_only_the_bad_row(pg_url: str) -> None:
    store = SqlStore(pg_url)
    await store.open()
    try:
        taken = make_call(0)
        await store.insert_call(taken, CallQueued(), taken.created_at)
        fresh = [make_call(n) for n in range(1, 40)]
        clash = make_call(99, id=taken.id)
        outcomes = await asyncio.gather(
            *(store.insert_call(c, CallQueued(), c.created_at) for c in [*fresh[:20], clash, *fresh[20:]]),
            return_exceptions=True,
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], asyncpg.UniqueViolationError)
        for call in fresh:
            got = await store.get_call(call.account_id, call.id)
            assert got is not None and got.to == call.to
        assert len(await store.timeline(fresh[0].id)) == 1
    finally:
        await store.close()
    assert store._pg_inserter is not None and store._pg_inserter._idle == []


async def test_an_idle_connection_the_server_closed_is_not_used(pg_url: str, admin: Any) -> None:
    opened: list[Any] = []
    inserter = PgInserter(connector(pg_url, opened), SQL, connections=1)
    await inserter.start([rows(make_call(0))])
    assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", opened[0].get_server_pid())
    for _ in range(200):  # the driver learns of the closed socket from the event loop
        if opened[0].is_closed():
            break
        await asyncio.sleep(0.01)
    assert opened[0].is_closed()
    after = [make_call(1)]
    await inserter.start([rows(c) for c in after])  # no failed batch: a new connection
    assert len(opened) == 2
    assert await stored(admin, after) == (1, 1)
    await inserter.close()


async def test_a_connection_lost_while_a_failed_group_is_retried_costs_only_the_batch_on_it(
    pg_url: str, admin: Any
) -> None:
    taken = make_call(0)
    opened: list[Any] = []

    async def kill_on_first_retry(n: int, conn: Any) -> None:
        if n == 2:  # 0: `taken`, 1: the merged group, 2: its first batch again
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", conn.get_server_pid())

    inserter = Counting(connector(pg_url, opened), SQL, connections=1, before=kill_on_first_retry)
    await inserter.start([rows(taken)])
    first, bad, last = [make_call(1)], [make_call(2, id=taken.id)], [make_call(3)]
    outcomes = await asyncio.gather(
        *(inserter.start([rows(c) for c in batch]) for batch in (first, bad, last)), return_exceptions=True
    )
    assert isinstance(
        outcomes[0], asyncpg.PostgresError | asyncpg.InterfaceError | OSError
    )  # on the lost one
    assert isinstance(outcomes[1], asyncpg.UniqueViolationError)  # its own error, on a new connection
    assert outcomes[2] is None
    assert len(opened) == 2
    assert await stored(admin, last) == (1, 1)
    assert await stored(admin, first) == (0, 0)
    after = [make_call(4)]
    await inserter.start([rows(c) for c in after])
    assert await stored(admin, after) == (1, 1)
    await inserter.close()
