import uuid

from callgate.core.ids import uuid7, uuid7_time_ms


def test_layout_follows_rfc_9562():
    value = uuid7(unix_ms=0x0123456789AB, random_bytes=bytes(range(10)))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert uuid7_time_ms(value) == 0x0123456789AB
    assert str(value).startswith("01234567-89ab-7")


def test_ids_sort_by_time_and_do_not_collide():
    earlier = [uuid7(unix_ms=1_000) for _ in range(100)]
    later = [uuid7(unix_ms=1_001) for _ in range(100)]
    assert max(earlier) < min(later)
    assert len(set(earlier + later)) == 200


def test_default_time_is_now():
    import time

    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after


def test_forked_children_draw_different_ids():
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports one id and leaves at once
        os.write(write, uuid7(unix_ms=5).bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    assert child != uuid7(unix_ms=5)
