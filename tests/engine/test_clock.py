import os
import time
import uuid

from callgate.core.ids import uuid7_time_ms
from callgate.engine.clock import IdSource


def test_ids_are_version_7_now_and_unique():
    source = IdSource()
    before = time.time_ns() // 1_000_000
    ids = [source() for _ in range(1000)]  # crosses a block of random bytes
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 1000
    assert all(i.version == 7 and before <= uuid7_time_ms(i) <= after for i in ids)


def test_forked_children_do_not_reuse_the_parents_random_bytes():
    source = IdSource()
    source()  # the parent holds a block of random bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports one id and leaves at once
        os.write(write, source().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    mine = source()
    assert child.int & ((1 << 74) - 1) != mine.int & ((1 << 74) - 1)
