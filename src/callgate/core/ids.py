"""Neutral ids: time-ordered UUIDs (version 7, RFC 9562 5.7).

Calls, applications and accounts are keyed by UUIDs that every dialect renders its own way. Version 7
puts the creation time (Unix milliseconds) in the high bits, so new ids land at the end of the
store's indexes instead of on a random page: inserting a call touches a handful of pages, not one per
index. The remaining 74 bits are random.
"""

from __future__ import annotations

import os
import random
import time
from uuid import UUID

# Ids need to be unique, not secret (every read is authenticated and scoped to its account), so a
# fast PRNG seeded from the OS stands in for one getrandom() call per id. Reseeded in each forked
# child so worker processes never share a sequence.
_rng = random.Random(os.urandom(32))


def _reseed() -> None:
    _rng.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62


def uuid7(unix_ms: int | None = None, random_bytes: bytes | None = None) -> UUID:
    """A version 7 UUID for `unix_ms` (default now), with 74 random bits (default from the PRNG)."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = _rng.getrandbits(80) if random_bytes is None else int.from_bytes(random_bytes, "big")
    rand_a = (rand >> 68) & 0xFFF  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = ((ms & ((1 << 48) - 1)) << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b
    return UUID(int=value)


def uuid7_time_ms(value: UUID) -> int:
    """The Unix milliseconds a version 7 UUID was made at."""
    return value.int >> 80
