"""The wall clock and the id source the services use; tests hand in their own."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from uuid import UUID

from callgate.core.ids import uuid7


def utcnow() -> datetime:
    return datetime.now(UTC)


class IdSource:
    """Version 7 UUIDs from the wall clock and the OS's random bytes.

    The random bytes are read from `os.urandom` in blocks, ten per id, so making an id costs no
    system call most of the time. The block is dropped in a forked child, so processes never share it.
    Ids are also made on the store's writer thread (the callbacks of an event), hence the lock.
    """

    _BLOCK = 4000

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._pool, self._at = b"", 0
        self._lock = threading.Lock()

    def __call__(self) -> UUID:
        with self._lock:
            if self._at + 10 > len(self._pool):
                self._pool, self._at = os.urandom(self._BLOCK), 0
            rand = self._pool[self._at : self._at + 10]
            self._at += 10
        return uuid7(time.time_ns() // 1_000_000, rand)


new_id = IdSource()
