"""SqliteWriter: one transaction per batch (in the insert process, or on the writer's thread), and
never a transaction left open."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy.exc

from callgate.core.call import Call, CallOptions
from callgate.core.events import CallQueued
from callgate.core.status import CallStatus
from callgate.store import SqlStore, codec
from callgate.store.batch import InsertBatcher
from callgate.store.sqlite_writer import MultiRowInsert, SqliteWriter, is_row_error, sqlite_pragmas

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
ACCOUNT = uuid.UUID("00000000-0000-4000-8000-000000000001")
HANG_TIMEOUT = 5


@pytest.fixture
async def db_path(tmp_path) -> str:
    """A SQLite file with the project's schema (the store's migrations)."""
    path = f"{tmp_path}/t.db"
    store = SqlStore(f"sqlite:///{path}")
    await store.open()
    await store.close()
    return path


@pytest.fixture(params=["process", "thread"])
async def writer(request, db_path):
    """The writer both ways: new calls written by its child process (the default) or on its thread."""
    w = SqliteWriter(db_path, insert_process=request.param == "process")
    yield w
    await w.close()


@pytest.fixture
async def thread_writer(db_path):
    """A writer that writes new calls on its own thread (its connection can be swapped for a flaky one)."""
    w = SqliteWriter(db_path, insert_process=False)
    yield w
    await w.close()


def make_call(n: int = 0, **kw: Any) -> Call:
    return Call(
        id=kw.pop("id", None) or uuid.uuid4(),
        account_id=ACCOUNT,
        to=f"+1415555010{n % 10}",
        from_="+14155550199",
        status=CallStatus.QUEUED,
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0 + timedelta(seconds=n),
        options=CallOptions(url="https://example.com/voice", status_callback_events=("ringing",)),
        **kw,
    )


def rows_of(call: Call) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    return codec.call_rows(call, CallQueued(), call.created_at, codec.sqlite_time)


def stored(db_path: str, calls: list[Call]) -> tuple[int, int]:
    """How many `calls` rows and `call_events` rows of these calls are committed (seen from outside)."""
    ids = [str(c.id) for c in calls]
    marks = ", ".join("?" for _ in ids)
    with sqlite3.connect(db_path) as conn:
        n_calls = conn.execute(f"SELECT count(*) FROM calls WHERE id IN ({marks})", ids).fetchone()[0]
        n_events = conn.execute(
            f"SELECT count(*) FROM call_events WHERE call_id IN ({marks})", ids
        ).fetchone()[0]
    conn.close()
    return n_calls, n_events


class FlakyConnection:
    """A real sqlite3 connection whose COMMIT (and optionally ROLLBACK) fails a set number of times."""

    def __init__(self, conn: sqlite3.Connection, *, commit_failures: int = 1, rollback_failures: int = 0):
        self.conn = conn
        self.commit_failures = commit_failures
        self.rollback_failures = rollback_failures
        self.statements: list[str] = []
        self.threads: set[str] = set()
        self.closed = False

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        self.statements.append(sql)
        self.threads.add(threading.current_thread().name)
        if sql == "COMMIT" and self.commit_failures:
            self.commit_failures -= 1
            raise sqlite3.OperationalError("injected: COMMIT failed")
        if sql == "ROLLBACK" and self.rollback_failures:
            self.rollback_failures -= 1
            raise sqlite3.OperationalError("injected: ROLLBACK failed")
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        self.threads.add(threading.current_thread().name)
        return self.conn.executemany(sql, rows)

    def getlimit(self, category: int) -> int:
        return self.conn.getlimit(category)

    def close(self) -> None:
        self.closed = True
        self.conn.close()


def not_in_transaction(writer: SqliteWriter) -> bool:
    return writer._conn is None or not writer._conn.in_transaction


async def test_a_batch_is_committed_and_readable_through_the_store(writer, db_path):
    calls = [make_call(n) for n in range(3)]
    await asyncio.wait_for(writer.write_call_batch([rows_of(c) for c in calls]), HANG_TIMEOUT)

    assert stored(db_path, calls) == (3, 3)
    assert not_in_transaction(writer)
    store = SqlStore(f"sqlite:///{db_path}")
    try:
        for call in calls:
            fetched = await store.get_call(ACCOUNT, call.id)
            assert fetched is not None and fetched.seq is not None
            assert replace(fetched, seq=None) == call
        timeline = await store.timeline(calls[0].id)
        assert [(e.name, e.status, e.at) for e in timeline] == [("CallQueued", CallStatus.QUEUED, T0)]
    finally:
        await store.close()


async def test_a_duplicate_id_fails_the_batch_and_leaves_nothing_of_it(writer, db_path):
    a, b = make_call(1), make_call(2)
    duplicate = make_call(3, id=a.id)
    with pytest.raises(sqlite3.IntegrityError):
        await asyncio.wait_for(
            writer.write_call_batch([rows_of(a), rows_of(b), rows_of(duplicate)]), HANG_TIMEOUT
        )
    assert stored(db_path, [a, b]) == (0, 0)
    assert not_in_transaction(writer)

    # The connection is usable: the next batch commits.
    await asyncio.wait_for(writer.write_call_batch([rows_of(a), rows_of(b)]), HANG_TIMEOUT)
    assert stored(db_path, [a, b]) == (2, 2)


async def test_an_id_already_stored_fails_the_batch_and_leaves_nothing_of_it(writer, db_path):
    old = make_call(0)
    await writer.write_call_batch([rows_of(old)])
    fresh = make_call(1)
    with pytest.raises(sqlite3.IntegrityError):
        await writer.write_call_batch([rows_of(fresh), rows_of(make_call(2, id=old.id))])
    assert stored(db_path, [fresh]) == (0, 0)
    assert stored(db_path, [old]) == (1, 1)
    assert not_in_transaction(writer)


async def test_a_bad_event_row_rolls_back_the_call_rows_of_its_batch(writer, db_path):
    good, bad = make_call(1), make_call(2)
    call_row, event_row = rows_of(bad)
    name = codec.EVENT_INSERT_COLUMNS.index("name")
    broken_event = event_row[:name] + (None,) + event_row[name + 1 :]  # NOT NULL
    with pytest.raises(sqlite3.IntegrityError):
        await writer.write_call_batch([rows_of(good), (call_row, broken_event)])
    assert stored(db_path, [good, bad]) == (0, 0)
    assert not_in_transaction(writer)


async def test_a_failed_commit_surfaces_and_leaves_no_transaction_and_no_rows(thread_writer, db_path):
    writer = thread_writer
    flaky = FlakyConnection(writer._connection(), commit_failures=1)
    writer._conn = flaky
    calls = [make_call(n) for n in range(2)]

    with pytest.raises(sqlite3.OperationalError, match="injected: COMMIT failed"):
        await asyncio.wait_for(writer.write_call_batch([rows_of(c) for c in calls]), HANG_TIMEOUT)

    assert "ROLLBACK" in flaky.statements
    assert not_in_transaction(writer)
    assert not flaky.conn.in_transaction
    assert stored(db_path, calls) == (0, 0)
    # The work ran on the writer's own thread, not on the event loop's.
    assert flaky.threads and all(t.startswith("callgate-sqlite-writer") for t in flaky.threads)

    # The next batch succeeds (the same calls: nothing of the failed batch is in the way).
    await asyncio.wait_for(writer.write_call_batch([rows_of(c) for c in calls]), HANG_TIMEOUT)
    assert stored(db_path, calls) == (2, 2)
    assert not_in_transaction(writer)


async def test_a_failed_commit_and_rollback_reset_the_connection(thread_writer, db_path):
    writer = thread_writer
    flaky = FlakyConnection(writer._connection(), commit_failures=1, rollback_failures=1)
    writer._conn = flaky
    call = make_call()

    with pytest.raises(sqlite3.OperationalError, match="injected: COMMIT failed"):
        await asyncio.wait_for(writer.write_call_batch([rows_of(call)]), HANG_TIMEOUT)

    # The connection still inside its transaction was closed (which rolls it back) and dropped.
    assert flaky.closed
    assert writer._conn is None
    assert stored(db_path, [call]) == (0, 0)

    # A fresh connection takes over and the write lock was released.
    await asyncio.wait_for(writer.write_call_batch([rows_of(call)]), HANG_TIMEOUT)
    assert writer._conn is not None and writer._conn is not flaky
    assert stored(db_path, [call]) == (1, 1)


async def test_the_writer_with_the_batcher_fails_only_the_duplicate(writer, db_path):
    batcher = InsertBatcher(writer.write_call_batch, is_row_error=is_row_error)
    a, b = make_call(1), make_call(2)
    duplicate = make_call(3, id=a.id)
    results = await asyncio.wait_for(
        asyncio.gather(
            *(batcher.submit(rows_of(c)) for c in (a, duplicate, b)),
            return_exceptions=True,
        ),
        HANG_TIMEOUT,
    )
    await batcher.close()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert stored(db_path, [a, b]) == (2, 2)
    assert not_in_transaction(writer)


def test_sqlite_pragmas_switch_to_wal(tmp_path):
    conn = sqlite3.connect(tmp_path / "p.db")
    try:
        sqlite_pragmas(conn)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()


def test_sqlite_pragmas_accept_an_in_memory_database():
    conn = sqlite3.connect(":memory:")
    try:
        sqlite_pragmas(conn)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
    finally:
        conn.close()


def test_sqlite_pragmas_refuse_a_database_that_stays_out_of_wal():
    class Cursor:
        def execute(self, sql: str) -> None:
            pass

        def fetchone(self) -> tuple[str]:
            return ("delete",)

        def close(self) -> None:
            pass

    class Connection:
        def cursor(self) -> Cursor:
            return Cursor()

    with pytest.raises(sqlite3.OperationalError, match="WAL"):
        sqlite_pragmas(Connection())


async def test_the_writers_connection_is_in_wal_mode(writer, db_path):
    await writer.write_call_batch([rows_of(make_call())])
    await writer.transaction(lambda conn: None)
    assert writer._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with sqlite3.connect(db_path) as outside:  # the mode is the file's
        assert outside.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    outside.close()


async def test_close_drops_the_connection_and_ends_the_insert_process(db_path):
    w = SqliteWriter(db_path, insert_process=True)
    await w.start_insert_process()
    await w.write_call_batch([rows_of(make_call())])
    await w.transaction(lambda conn: None)  # the thread's own connection, too
    inserter = w._inserter
    assert w._conn is not None and inserter is not None
    await w.close()
    assert w._conn is None and w._inserter is None
    assert inserter.returncode is not None  # the child exited, and was reaped


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (sqlite3.IntegrityError("UNIQUE constraint failed"), True),
        (sqlite3.DataError("bad value"), True),
        (sqlite3.InterfaceError("bad binding"), True),
        (sqlite3.ProgrammingError("type not supported"), True),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), True),
        (sqlite3.OperationalError("database is locked"), False),
        (sqlite3.DatabaseError("disk image is malformed"), False),
        (ConnectionError("lost"), False),
        (asyncio.CancelledError(), False),
    ],
)
def test_is_row_error(exc, expected):
    assert is_row_error(exc) is expected


async def test_a_value_sqlite_cannot_bind_fails_only_its_own_call(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/overflow.db")
    await store.open()
    try:
        calls = [make_call(1), replace(make_call(2), sip_result_code=2**64), make_call(3)]
        results = await asyncio.gather(
            *(store.insert_call(c, CallQueued(), c.created_at) for c in calls), return_exceptions=True
        )
        assert isinstance(results[1], OverflowError)
        assert results[0] == calls[0] and results[2] == calls[2]
    finally:
        await store.close()


async def test_a_transaction_after_close_fails_instead_of_waiting(db_path):
    w = SqliteWriter(db_path)
    await w.transaction(lambda conn: conn.exec_driver_sql("SELECT 1").scalar())
    await w.close()
    with pytest.raises(RuntimeError, match="closed"):
        await asyncio.wait_for(w.transaction(lambda conn: None), HANG_TIMEOUT)


async def test_jobs_of_a_group_commit_or_fail_alone(db_path):
    """Transactions waiting together share a commit; the one that raises is undone alone."""
    w = SqliteWriter(db_path)
    try:
        await w.transaction(lambda conn: conn.exec_driver_sql("CREATE TABLE g (n INTEGER PRIMARY KEY)"))

        def insert(n: int) -> Any:
            return lambda conn: conn.exec_driver_sql("INSERT INTO g (n) VALUES (?)", (n,)).rowcount

        def insert_then_fail(conn: Any) -> None:
            conn.exec_driver_sql("INSERT INTO g (n) VALUES (100)")
            conn.exec_driver_sql("INSERT INTO g (n) VALUES (1)")  # a duplicate of the first job's row

        # Hold the writer thread so that the three jobs are waiting together when it comes round.
        gate, held = threading.Event(), threading.Event()
        blocker = asyncio.ensure_future(w.transaction(lambda conn: held.set() or gate.wait(HANG_TIMEOUT)))
        await asyncio.to_thread(held.wait, HANG_TIMEOUT)
        jobs = asyncio.gather(
            w.transaction(insert(1)),
            w.transaction(insert_then_fail),
            w.transaction(insert(2)),
            return_exceptions=True,
        )
        await asyncio.sleep(0)  # the three are queued behind the held job
        assert len(w._jobs) == 3
        gate.set()
        await blocker
        results = await asyncio.wait_for(jobs, HANG_TIMEOUT)
        assert results[0] == 1 and results[2] == 1
        assert isinstance(results[1], sqlalchemy.exc.IntegrityError)
        rows = await w.transaction(
            lambda conn: [r[0] for r in conn.exec_driver_sql("SELECT n FROM g ORDER BY n")]
        )
        assert rows == [1, 2]  # the failed job's first insert (100) was undone with it
        assert not_in_transaction(w)
    finally:
        await w.close()


async def test_a_batch_longer_than_a_statement_is_written_in_several_and_commits_whole(writer, db_path):
    # SQLite caps the parameters of one statement: a batch goes as several multi-row INSERTs.
    conn = writer._connection()
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)  # two call rows a statement at most
    calls = [make_call(n) for n in range(5)]
    await asyncio.wait_for(writer.write_call_batch([rows_of(c) for c in calls]), HANG_TIMEOUT)
    assert stored(db_path, calls) == (5, 5)
    duplicate = make_call(9, id=calls[0].id)  # in the last statement of its batch: none of it stays
    fresh = [make_call(n) for n in range(10, 14)]
    with pytest.raises(sqlite3.IntegrityError):
        await writer.write_call_batch([rows_of(c) for c in [*fresh, duplicate]])
    assert stored(db_path, fresh) == (0, 0)
    assert not_in_transaction(writer)


def test_a_multi_row_insert_binds_every_row_in_order():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a, b)")
    insert = MultiRowInsert("INSERT INTO t (a, b) VALUES (?, ?)")
    insert.run(conn, [(n, f"row {n}") for n in range(70)])  # 32 + 32 + 6
    insert.run(conn, [])
    assert conn.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == [
        (n, f"row {n}") for n in range(70)
    ]
