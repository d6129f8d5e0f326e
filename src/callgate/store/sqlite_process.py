"""New calls written to the SQLite file by a process of their own.

Why a process: the stdlib driver lets go of the interpreter lock while SQLite runs a statement, but
binding a batch's values and taking the lock back after each statement happen under it, so a writer
thread and a busy event loop trade the lock all the time. A thread inserting batches of
call-sized rows beside a thread running Python makes a small fraction of the rows it makes alone, and
`callgate serve`'s event loop and writer thread together never use more than one core. A child
process has an interpreter of its own: the event loop parses and answers requests on one core while
the child writes the rows on another.

Only the create-call batches come here (`SqliteWriter.start_call_batch`), and only for a store made
with `SqlStore(..., insert_process=True)`: `callgate serve` as an API node (CALLGATE_WORKER=false).
Every other write stays on the writer thread. The event loop talks to the child itself, without a
thread in between (`LoopInserter`): it sends a batch the moment the batch is full and goes on with
its requests; the child commits the batches in the order they came and answers each. The child and
the writer thread take turns through SQLite's write lock (BEGIN IMMEDIATE, and a busy timeout on
both connections); the child's transactions last a fraction of a millisecond.

The child is `python -m callgate.store.sqlite_process FD`: FD is its end of a socket pair, which
carries pickled messages framed as `multiprocessing.connection` frames them. The first message
names the file and the two INSERT statements; each next one is a batch of (call row, event row)
pairs, answered with None once committed or with the exception that undid it (all of the batch or
nothing). The child exits when the parent's end closes, so it never outlives the process that
started it. This module imports nothing heavy: the child starts in a few tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import socket
import sqlite3
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from callgate.store.sqlite_rows import MultiRowInsert, insert_batch, sqlite_pragmas

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class InserterGone(RuntimeError):
    """The child process is not there any more (it exited, or its socket broke)."""


class InsertProcess:
    """The parent's handle on the child: start it (blocking: on a thread), then `on_loop`."""

    def __init__(self, process: subprocess.Popen[bytes], channel: Connection) -> None:
        self._process = process
        self._channel = channel

    @classmethod
    def start(cls, path: str, call_sql: str, event_sql: str) -> InsertProcess:
        """Start the child on the file at `path`, and wait until it has opened it (its pragmas
        applied), so that a file it cannot open fails here, not on the first batch."""
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "callgate.store.sqlite_process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        channel = Connection(ours.detach())
        inserter = cls(process, channel)
        try:
            channel.send((path, call_sql, event_sql))
            if not channel.poll(START_TIMEOUT_S):
                raise InserterGone(f"the SQLite insert process did not start within {START_TIMEOUT_S:g} s")
            answer = channel.recv()
        except (OSError, EOFError) as exc:
            inserter.close()
            raise InserterGone(f"the SQLite insert process did not start: {exc}") from exc
        except BaseException:
            inserter.close()
            raise
        if answer is not None:
            inserter.close()
            raise answer
        return inserter

    @property
    def pid(self) -> int:
        return self._process.pid

    def fileno(self) -> int:
        return self._channel.fileno()

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has exited, else None."""
        return self._process.poll()

    def release(self) -> None:
        """Close this handle's descriptor of the socket (the loop's duplicate of it stays open)."""
        self._channel.close()

    def reap(self) -> None:
        """Wait for the child to exit (it does once every descriptor of our end is closed)."""
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def on_loop(self, loop: asyncio.AbstractEventLoop) -> LoopInserter:
        """Talk to the child from `loop` from now on (no more `insert` from a thread)."""
        return LoopInserter(self, loop)

    def close(self) -> None:
        """Close the child's socket (it exits on that) and reap it."""
        self._channel.close()
        self.reap()


_LENGTH = struct.Struct("!i")  # multiprocessing.connection's frame header (messages under 2 GiB)


class LoopInserter:
    """The child driven from the event loop, without a thread: `insert` sends the batch at once and
    returns a future; the child's answers, which come in the order of the batches, settle the
    futures from a reader on the socket. Several batches may be in flight: the child takes them one
    after the other, while the loop goes on with its requests."""

    def __init__(self, process: InsertProcess, loop: asyncio.AbstractEventLoop) -> None:
        self._process = process
        self._loop = loop
        self._sock = socket.socket(fileno=os.dup(process.fileno()))
        process.release()
        self._sock.setblocking(False)
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._inbox = bytearray()
        self._outbox = bytearray()
        self._gone: InserterGone | None = None
        loop.add_reader(self._sock.fileno(), self._readable)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return self._gone is None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def insert(self, batch: Sequence[Any]) -> asyncio.Future[None]:
        """Send `batch` now; the future completes once the child has committed it, or raises what
        undid it (`InserterGone` if the child went away before answering)."""
        future = self._loop.create_future()
        if self._gone is not None:
            future.set_exception(self._gone)
            return future
        payload = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
        frame = _LENGTH.pack(len(payload)) + payload
        self._waiting.append(future)
        if self._outbox:
            self._outbox += frame
            return future
        try:
            sent = self._sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._fail(InserterGone(f"the SQLite insert process is gone: {exc!r}"))
            return future
        if sent < len(frame):
            self._outbox += frame[sent:]
            self._loop.add_writer(self._sock.fileno(), self._writable)
        return future

    def _writable(self) -> None:
        try:
            sent = self._sock.send(self._outbox)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(InserterGone(f"the SQLite insert process is gone: {exc!r}"))
            return
        del self._outbox[:sent]
        if not self._outbox:
            self._loop.remove_writer(self._sock.fileno())

    def _readable(self) -> None:
        try:
            data = self._sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(InserterGone(f"the SQLite insert process is gone: {exc!r}"))
            return
        if not data:
            self._fail(InserterGone("the SQLite insert process is gone (its socket closed)"))
            return
        inbox = self._inbox
        inbox += data
        while len(inbox) >= 4:
            (size,) = _LENGTH.unpack_from(inbox)
            if len(inbox) < 4 + size:
                break
            answer = pickle.loads(inbox[4 : 4 + size])
            del inbox[: 4 + size]
            future = self._waiting.popleft()
            if future.done():
                continue
            if answer is None:
                future.set_result(None)
            else:
                future.set_exception(answer)

    def _fail(self, gone: InserterGone) -> None:
        """The child is gone: every batch still waiting fails with `gone` (and so does every later one)."""
        if self._gone is None:
            self._gone = gone
            self._loop.remove_reader(self._sock.fileno())
            if self._outbox:
                self._loop.remove_writer(self._sock.fileno())
                self._outbox.clear()
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(gone)

    def close(self) -> None:
        """Stop talking to the child (on the loop): batches still waiting fail, and the child, its
        socket closed, exits; `reap` waits for that (it blocks: not on the loop)."""
        self._fail(InserterGone("the SQLite insert process was closed"))
        self._sock.close()

    def reap(self) -> None:
        self._process.reap()


def _answerable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (sqlite3's errors do), else a RuntimeError that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def serve(channel: Connection) -> None:
    """The child: open the file, then commit each batch received and answer, until EOF."""
    try:
        path, call_sql, event_sql = channel.recv()
    except EOFError:
        return
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        sqlite_pragmas(conn)
    except Exception as exc:
        channel.send(_answerable(exc))
        return
    calls, events = MultiRowInsert(call_sql), MultiRowInsert(event_sql)
    channel.send(None)
    while True:
        try:
            batch = channel.recv()
        except (EOFError, OSError):
            break
        try:
            insert_batch(conn, calls, events, batch)
        except Exception as exc:
            answer: BaseException | None = _answerable(exc)
        else:
            answer = None
        try:
            channel.send(answer)
        except OSError:
            break
    conn.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
