"""Waiting in media tests on the media clock's ticks, not on sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callgate.telephony.aio.media import RtpStream


async def until(condition: Callable[[], bool], stream: RtpStream, most: int = 250) -> None:
    """Wait, tick by tick of `stream`'s clock, until `condition` holds (at most `most` ticks)."""
    loop = asyncio.get_running_loop()
    met: asyncio.Future[None] = loop.create_future()
    count = 0

    def check(inbound: object, outbound: object) -> None:
        nonlocal count
        count += 1
        if not met.done() and (condition() or count >= most):
            met.set_result(None)

    stream.listeners.append(check)
    try:
        if not condition():
            await asyncio.wait_for(met, timeout=most * 0.02 + 10)
    finally:
        stream.listeners.remove(check)
    assert condition()


async def ticks(stream: RtpStream, n: int) -> None:
    """Wait for `n` ticks of `stream`'s clock (the last frames through the jitter buffers)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    count = 0

    def tick(inbound: object, outbound: object) -> None:
        nonlocal count
        count += 1
        if count == n and not done.done():
            done.set_result(None)

    stream.listeners.append(tick)
    try:
        await asyncio.wait_for(done, timeout=n * 0.02 + 10)
    finally:
        stream.listeners.remove(tick)
