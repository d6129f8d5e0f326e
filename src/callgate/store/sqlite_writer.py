"""The SQLite write path: one stdlib connection on one thread of its own, and a reader beside it.

Each batch from `InsertBatcher`, and each transaction of the engine's hot path (`transaction`), is one
hop to that thread, instead of a hop per statement through aiosqlite (and a greenlet switch around
each): the event loop and the writer stop trading the GIL per statement. The statements of a
transaction run through a synchronous SQLAlchemy connection over that same stdlib connection, so the
SQL is the same as on PostgreSQL, where the store runs the same function with `run_sync`.
Hot reads go the same way through a second connection on a reader thread (WAL lets it read beside
the writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import StaticPool

from callgate.store.batch import Rows
from callgate.store.codec import insert_sql
from callgate.store.sqlite_process import InserterGone, InsertProcess, LoopInserter
from callgate.store.sqlite_rows import MultiRowInsert, insert_rows, sqlite_pragmas
from callgate.store.tables import call_events, calls

__all__ = ["MultiRowInsert", "SqliteReader", "SqliteWriter", "is_row_error", "sqlite_pragmas"]

log = logging.getLogger(__name__)

R = TypeVar("R")


def is_row_error(exc: BaseException) -> bool:
    """Errors that belong to a row (a constraint it breaks, a value it holds), not to the database."""
    # OverflowError and ProgrammingError: a value SQLite cannot bind (an integer past 64 bits, an
    # unsupported type); at worst a database-wide ProgrammingError costs a row-by-row retry.
    return isinstance(
        exc,
        sqlite3.IntegrityError
        | sqlite3.DataError
        | sqlite3.InterfaceError
        | sqlite3.ProgrammingError
        | OverflowError,
    )


class _SqliteThread:
    """One stdlib connection (autocommit: transactions are begun explicitly) used from one thread,
    with a SQLAlchemy engine over it for the statements built with SQLAlchemy Core."""

    def __init__(self, path: str, name: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._engine: Engine | None = None
        self._sa_conn: Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(conn)
            self._conn = conn
        return self._conn

    def _sqlalchemy(self) -> Engine:
        if self._engine is None:
            # StaticPool: every checkout is this thread's one connection, never a new one.
            self._engine = create_engine(
                "sqlite://", creator=self._connection, poolclass=StaticPool, json_deserializer=orjson.loads
            )
        return self._engine

    def _sa(self) -> Connection:
        """A SQLAlchemy connection over the stdlib one, kept open (a checkout per use costs more than
        the statements). Taken before a transaction begins: its first checkout rolls back."""
        if self._sa_conn is None:
            self._sa_conn = self._sqlalchemy().connect()
        return self._sa_conn

    def _reset(self) -> None:
        if self._sa_conn is not None:
            with contextlib.suppress(Exception):
                self._sa_conn.close()
            self._sa_conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _call(self, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        await self._call(self._reset)
        self._executor.shutdown(wait=False)


class SqliteReader(_SqliteThread):
    """Reads on a connection of their own, one at a time, each in one hop."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "callgate-sqlite-reader")

    def _read(self, fn: Callable[[Connection], R]) -> R:
        conn = self._sa()
        try:
            return fn(conn)
        finally:
            # End the read transaction, so the WAL is not held back by an old snapshot.
            conn.rollback()

    async def read(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` on the reader thread."""
        return await self._call(self._read, fn)


_MAX_GROUP = 256


class SqliteWriter(_SqliteThread):
    """Writes to the SQLite file at `path`: batches of (call row, event row), and transactions.

    Transactions are group-committed: the jobs waiting when the thread comes round run one after the
    other inside one BEGIN IMMEDIATE ... COMMIT, each within a savepoint of its own, so a job that
    fails is undone alone while the others commit. Nobody is answered before the commit. One hop
    to the thread, and one back, carry the whole group.
    """

    def __init__(self, path: str, *, insert_process: bool = False) -> None:
        super().__init__(path, "callgate-sqlite-writer")
        self._call_sql, self._event_sql = insert_sql("qmark", calls), insert_sql("qmark", call_events)
        self._call_insert = MultiRowInsert(self._call_sql)
        self._event_insert = MultiRowInsert(self._event_sql)
        # New calls' rows go to a child process (see callgate.store.sqlite_process) once
        # `start_insert_process` has started it; if it cannot start or dies, and until then, they are
        # written here, on the thread.
        self._insert_process = insert_process
        self._inserter: LoopInserter | None = None
        self._starting: asyncio.Future[None] | None = None
        self._jobs: list[_Job] = []
        self._jobs_lock = threading.Lock()
        self._draining = False

    async def transaction(self, fn: Callable[[Connection], R]) -> R:
        """`fn(connection)` in a write transaction on the writer thread: committed if it returns,
        undone if it raises (the exception is raised here)."""
        return await self._submit(fn, False)

    async def _submit(self, fn: Callable[[Any], R], raw: bool) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._jobs_lock:
            self._jobs.append((fn, raw, future))
            start, self._draining = not self._draining, True
        if start:
            try:
                self._executor.submit(self._drain, loop)
            except RuntimeError:  # the writer is closed: fail what waits, never leave it hanging
                with self._jobs_lock:
                    jobs, self._jobs, self._draining = self._jobs, [], False
                _settle([(waiter, None, RuntimeError("the store is closed")) for _, _, waiter in jobs])
        return await future

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._jobs_lock:
                jobs, self._jobs = self._jobs[:_MAX_GROUP], self._jobs[_MAX_GROUP:]
                if not jobs:
                    self._draining = False
                    return
            try:
                outcomes = self._group(jobs)
            except BaseException as exc:  # never leave a waiter behind, whatever broke
                outcomes = [(future, None, exc) for _, _, future in jobs]
            try:
                loop.call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                with self._jobs_lock:
                    self._draining = False
                return

    async def start_insert_process(self) -> None:
        """Start the child that writes new calls (see callgate.store.sqlite_process) and drive it
        from the running loop. Started on the writer thread, which waits until the child has opened
        the file. If it cannot start, new calls are written on the thread."""
        if not self._insert_process or self._inserter is not None:
            return
        try:
            process = await self._call(InsertProcess.start, self._path, self._call_sql, self._event_sql)
        except Exception as exc:
            log.warning("new calls are written by the writer thread: %s", exc)
            self._insert_process = False
            return
        self._inserter = process.on_loop(asyncio.get_running_loop())

    def start_call_batch(self, batch: Sequence[Rows]) -> asyncio.Future[None]:
        """Start writing `batch` now (sent to the child before this returns, when there is one); the
        future completes once it is committed, or raises what undid it."""
        inserter = self._inserter
        if inserter is None or not inserter.alive:
            if self._insert_process and self._starting is None:
                # Started with the first new call (a store that never makes one starts no process);
                # until it is up, the thread writes.
                self._starting = asyncio.ensure_future(self.start_insert_process())
            return asyncio.ensure_future(self._submit(_CallBatch(self, batch), True))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(sent: asyncio.Future[None]) -> None:
            error = sent.exception()
            if isinstance(error, InserterGone):
                # The child died: the batch may or may not be in the file; the thread finds out.
                asyncio.ensure_future(self._recover(batch, done, error))
            elif not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

        inserter.insert(batch).add_done_callback(settle)
        return done

    async def _recover(self, batch: Sequence[Rows], done: asyncio.Future[None], gone: InserterGone) -> None:
        if self._inserter is not None:
            log.warning("new calls are written by the writer thread from now on: %s", gone)
            inserter, self._inserter, self._insert_process = self._inserter, None, False
            inserter.close()
            await self._call(inserter.reap)
        try:
            await self._submit(_CallBatch(self, batch, recovering=True), True)
        except BaseException as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    def _committed(self, conn: sqlite3.Connection, batch: Sequence[Rows]) -> bool:
        """Whether the calls of `batch` (written all or none, in one transaction) are in the file."""
        first_id = batch[0][0][0]
        return conn.execute("SELECT 1 FROM calls WHERE id = ?", (first_id,)).fetchone() is not None

    async def close(self) -> None:
        self._insert_process = False
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        inserter, self._inserter = self._inserter, None
        if inserter is not None:
            inserter.close()
            await self._call(inserter.reap)
        await super().close()

    def _group(self, jobs: list[_Job]) -> list[_Outcome]:
        raw = self._connection()
        outcomes: list[_Outcome] = []
        try:
            # Taken before BEGIN: SQLAlchemy's first checkout rolls back what is open.
            conn = None if all(wants_raw for _, wants_raw, _ in jobs) else self._sa()
            raw.execute("BEGIN IMMEDIATE")
            for fn, wants_raw, future in jobs:
                raw.execute("SAVEPOINT job")
                try:
                    value = fn(raw if wants_raw else conn)
                except Exception as exc:
                    raw.execute("ROLLBACK TO job")
                    raw.execute("RELEASE job")
                    outcomes.append((future, None, exc))
                    continue
                raw.execute("RELEASE job")
                outcomes.append((future, value, None))
            raw.execute("COMMIT")
        except Exception as exc:  # the group could not begin or commit: none of it holds
            outcomes = [(future, None, exc) for _, _, future in jobs]
        finally:
            if raw.in_transaction:
                try:
                    raw.execute("ROLLBACK")
                except sqlite3.Error:
                    self._reset()
        return outcomes

    def _write(self, conn: sqlite3.Connection, batch: Sequence[Rows]) -> None:
        insert_rows(conn, self._call_insert, self._event_insert, batch)

    async def write_call_batch(self, batch: Sequence[Rows]) -> None:
        await self.start_call_batch(batch)


class _CallBatch:
    """A job that writes a batch of new calls on the writer thread (`recovering`: a batch the child
    took before it died, written only if it did not commit it)."""

    __slots__ = ("writer", "batch", "recovering")

    def __init__(self, writer: SqliteWriter, batch: Sequence[Rows], *, recovering: bool = False) -> None:
        self.writer, self.batch, self.recovering = writer, batch, recovering

    def __call__(self, conn: sqlite3.Connection) -> None:
        if self.recovering and self.writer._committed(conn, self.batch):
            return
        self.writer._write(conn, self.batch)


# A job: the work, whether it takes the raw stdlib connection (else SQLAlchemy's), and its waiter.
_Job = tuple[Callable[[Any], Any], bool, "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _settle(outcomes: list[_Outcome]) -> None:
    for future, value, error in outcomes:
        if future.done():  # its waiter was cancelled; the write stands or fails all the same
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
