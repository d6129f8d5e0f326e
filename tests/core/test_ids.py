import os
import uuid

import pytest

from callgate.core.ids import uuid7, uuid7_time_ms


def test_layout_follows_rfc_9562():
    value = uuid7(0x0123456789AB, bytes(range(10)))
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert uuid7_time_ms(value) == 0x0123456789AB
    assert str(value).startswith("01234567-89ab-7")


def test_ids_sort_by_time():
    earlier = [uuid7(1_000, os.urandom(10)) for _ in range(100)]
    later = [uuid7(1_001, os.urandom(10)) for _ in range(100)]
    assert max(earlier) < min(later)


def test_random_bytes_are_checked():
    with pytest.raises(ValueError, match="10 random bytes"):
        uuid7(1, b"short")
