"""The UDP endpoint's sending: datagrams queued in one turn of the event loop leave together."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from callgate.telephony.aio.endpoint import SipEndpoint

pytestmark = pytest.mark.anyio


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        yield s


def arrived(s: socket.socket) -> list[bytes]:
    """What has reached `s` (over loopback the kernel delivers a datagram inside the sender's call)."""
    out = []
    while True:
        try:
            out.append(s.recv(2048))
        except BlockingIOError:
            return out


async def test_datagrams_of_one_turn_leave_together_and_in_order(receiver):
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    try:
        destination = receiver.getsockname()
        endpoint.send_raw(b"first", destination)
        endpoint.send_raw(b"second", destination)
        assert arrived(receiver) == []  # still queued: nothing has left within this turn
        await asyncio.sleep(0)  # one turn of the loop
        assert arrived(receiver) == [b"first", b"second"]
        endpoint.send_raw(b"third", destination)
        await asyncio.sleep(0)
        assert arrived(receiver) == [b"third"]
    finally:
        endpoint.close()


async def test_closing_sends_what_is_queued_then_nothing_more(receiver):
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    destination = receiver.getsockname()
    endpoint.send_raw(b"last words", destination)
    endpoint.close()
    assert arrived(receiver) == [b"last words"]
    endpoint.send_raw(b"after the close", destination)
    await asyncio.sleep(0)
    assert arrived(receiver) == []
