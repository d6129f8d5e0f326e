"""Neutral ids: time-ordered UUIDs (version 7, RFC 9562 5.7).

Calls, applications and accounts are keyed by UUIDs that every dialect renders its own way. Version 7
puts the creation time (Unix milliseconds) in the high bits, so new ids land at the end of the
store's indexes instead of on a random page: inserting a call touches a handful of pages, not one per
index. The remaining 74 bits are random. This module only lays the bits out: the clock and the
random bytes come from the caller (`callgate.engine.clock.IdSource`).
"""

from __future__ import annotations

from uuid import UUID

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0x2 << 62


def uuid7(unix_ms: int, random_bytes: bytes) -> UUID:
    """The version 7 UUID for `unix_ms` with 74 of the bits of `random_bytes` (10 bytes)."""
    if len(random_bytes) != 10:
        raise ValueError(f"uuid7 takes 10 random bytes, not {len(random_bytes)}")
    rand = int.from_bytes(random_bytes, "big")
    rand_a = (rand >> 68) & 0xFFF  # 12 bits
    rand_b = rand & ((1 << 62) - 1)  # 62 bits
    value = ((unix_ms & ((1 << 48) - 1)) << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b
    return UUID(int=value)


def uuid7_time_ms(value: UUID) -> int:
    """The Unix milliseconds a version 7 UUID was made at."""
    return value.int >> 80
