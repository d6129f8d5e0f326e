"""The SQLite insert process: new calls written by a child, errors carried back, and the writer thread
taking over when the child is gone."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from callgate.store import SqlStore, codec
from callgate.store.sqlite_process import InserterGone, InsertProcess
from callgate.store.sqlite_writer import SqliteWriter
from callgate.store.tables import call_events, calls
from tests.store.test_sqlite_writer import HANG_TIMEOUT, make_call, rows_of, stored

pytestmark = pytest.mark.anyio

EXIT_TIMEOUT = 10.0


@pytest.fixture
def db_path(tmp_path) -> str:
    """A SQLite file with the project's schema (the store's migrations)."""
    path = f"{tmp_path}/t.db"

    async def migrate() -> None:
        store = SqlStore(f"sqlite:///{path}")
        await store.open()
        await store.close()

    asyncio.run(migrate())
    return path


def gone(pid: int, timeout: float = EXIT_TIMEOUT) -> bool:
    """Whether process `pid` has exited (and been reaped) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                if fh.read().split(") ", 1)[1].startswith("Z"):  # exited; its parent has not reaped it
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def start(db_path: str) -> InsertProcess:
    return InsertProcess.start(
        db_path, codec.insert_sql("qmark", calls), codec.insert_sql("qmark", call_events)
    )


async def test_the_child_commits_each_batch_and_answers_a_rows_error_with_its_own_type(db_path):
    inserter = start(db_path).on_loop(asyncio.get_running_loop())
    try:
        a, b = make_call(1), make_call(2)
        await asyncio.wait_for(inserter.insert([rows_of(a), rows_of(b)]), HANG_TIMEOUT)
        assert stored(db_path, [a, b]) == (2, 2)  # committed: seen from another connection
        c = make_call(3)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            await asyncio.wait_for(inserter.insert([rows_of(c), rows_of(a)]), HANG_TIMEOUT)
        assert stored(db_path, [c]) == (0, 0)  # all of the batch or nothing
        await asyncio.wait_for(inserter.insert([rows_of(c)]), HANG_TIMEOUT)  # and the child goes on
        assert stored(db_path, [c]) == (1, 1)
    finally:
        inserter.close()
        inserter.reap()
    assert gone(inserter.pid)


def test_a_file_the_child_cannot_open_fails_the_start(tmp_path):
    with pytest.raises(sqlite3.OperationalError):
        start(str(tmp_path / "no such folder" / "t.db"))


async def test_the_writer_uses_the_child_and_the_thread_takes_over_when_it_dies(db_path):
    writer = SqliteWriter(db_path, insert_process=True)
    try:
        first = make_call(1)
        await asyncio.wait_for(writer.write_call_batch([rows_of(first)]), HANG_TIMEOUT)  # starts the child
        await asyncio.wait_for(writer._starting, HANG_TIMEOUT)
        inserter = writer._inserter
        assert inserter is not None and inserter.alive
        second = make_call(2)
        await asyncio.wait_for(writer.write_call_batch([rows_of(second)]), HANG_TIMEOUT)  # by the child
        os.kill(inserter.pid, signal.SIGKILL)
        assert gone(inserter.pid)

        third = make_call(3)
        await asyncio.wait_for(writer.write_call_batch([rows_of(third)]), HANG_TIMEOUT)
        assert stored(db_path, [first, second, third]) == (3, 3)
        assert writer._inserter is None  # from now on, the thread writes them

        fourth = make_call(4)
        await asyncio.wait_for(writer.write_call_batch([rows_of(fourth)]), HANG_TIMEOUT)
        assert stored(db_path, [fourth]) == (1, 1)
    finally:
        await writer.close()


async def test_batches_in_flight_each_commit_or_fail_alone(db_path):
    writer = SqliteWriter(db_path, insert_process=True)
    try:
        await writer.start_insert_process()
        assert writer._inserter is not None
        taken = make_call(0)
        await writer.write_call_batch([rows_of(taken)])
        batches = [[rows_of(make_call(10 * b + n)) for n in range(5)] for b in range(4)]
        batches[2][3] = rows_of(make_call(99, id=taken.id))  # a duplicate key in the third batch
        writes = [writer.start_call_batch(batch) for batch in batches]  # all sent before any answer
        results = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), HANG_TIMEOUT)
        assert results[0] is None and results[1] is None and results[3] is None
        assert isinstance(results[2], sqlite3.IntegrityError)
        with sqlite3.connect(db_path) as conn:
            count = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
        conn.close()
        assert count == 1 + 15
    finally:
        await writer.close()


async def test_a_batch_the_child_committed_before_its_answer_was_lost_is_not_written_twice(db_path):
    """The child's answer never arrives (it died after its commit): the writer finds the rows in the
    file and answers that they are committed, instead of writing them again (which a duplicate key
    would fail)."""
    writer = SqliteWriter(db_path, insert_process=True)
    try:
        await writer.start_insert_process()
        inserter = writer._inserter
        assert inserter is not None
        loop = asyncio.get_running_loop()
        loop.remove_reader(inserter._sock.fileno())  # the answer is not read...
        call = make_call(1)
        write = writer.start_call_batch([rows_of(call)])
        for _ in range(200):  # ...until the commit is seen from outside
            if stored(db_path, [call]) == (1, 1):
                break
            await asyncio.sleep(0.01)
        os.kill(inserter.pid, signal.SIGKILL)
        assert gone(inserter.pid)
        inserter._fail(InserterGone("its answer was lost"))
        await asyncio.wait_for(write, HANG_TIMEOUT)
        assert stored(db_path, [call]) == (1, 1)
    finally:
        await writer.close()


def test_the_child_ends_when_the_process_that_started_it_is_killed(db_path):
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from tests.store.test_sqlite_process import start
                inserter = start({db_path!r})
                print(inserter.pid, flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(EXIT_TIMEOUT)
        assert gone(child)  # its socket closed with its parent: it exits (init reaps it)
    finally:
        if parent.poll() is None:
            parent.kill()


async def test_a_store_with_the_insert_process_keeps_every_call_and_fails_only_a_duplicate(tmp_path):
    from dataclasses import replace

    from callgate.core.events import CallQueued
    from tests.store.test_sql import T0, new_account_id
    from tests.store.test_sql import make_call as store_call

    store = SqlStore(f"sqlite:///{tmp_path}/s.db", insert_process=True)
    await store.open()
    try:
        account_id = await new_account_id(store)
        assert store._sqlite_writer is not None
        await store._sqlite_writer.start_insert_process()  # up before the burst (else: with its first batch)
        calls = [store_call(account_id, n) for n in range(40)]
        duplicate = replace(store_call(account_id, 99), id=calls[5].id)
        results = await asyncio.wait_for(
            asyncio.gather(
                *(store.insert_call(c, CallQueued(), T0) for c in [*calls, duplicate]), return_exceptions=True
            ),
            HANG_TIMEOUT,
        )
        assert all(not isinstance(r, BaseException) for r in results[:40])
        assert isinstance(results[40], sqlite3.IntegrityError)
        assert store._sqlite_writer._inserter is not None and store._sqlite_writer._inserter.alive
        for call in calls:
            assert (await store.get_call(account_id, call.id)).to == call.to
    finally:
        await store.close()
