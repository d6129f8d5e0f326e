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


async def test_a_burst_of_answers_fits_in_the_socket_without_a_loss():
    # The answers to a hundred INVITEs sent in one turn arrive back to back, before the loop reads
    # any: the socket's buffer must hold them all (a lost one costs a retransmission or the call).
    endpoint = await SipEndpoint.open("127.0.0.1", 0)
    strays = []
    endpoint.on_stray_response = strays.append
    burst = 200
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far_end:
            for n in range(burst):  # no await: the loop cannot read meanwhile
                far_end.sendto(_answer(n), endpoint.local_address)
        for _ in range(100):
            if len(strays) == burst:
                break
            await asyncio.sleep(0.01)
        assert len(strays) == burst
        call_ids = [event.response.headers.get("Call-ID") for event in strays]
        assert call_ids == [f"burst-{n}" for n in range(burst)]
    finally:
        endpoint.close()


def _answer(n: int) -> bytes:
    """A 200 OK of about 500 bytes, as answers with SDP are, that no transaction claims."""
    head = (
        "SIP/2.0 200 OK\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKburst{n};rport\r\n"
        "From: <sip:+14155550199@127.0.0.1>;tag=a1\r\n"
        f"To: <sip:+14155550100@127.0.0.1>;tag=b{n}\r\n"
        f"Call-ID: burst-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:127.0.0.1:5070>\r\n"
        "Content-Type: application/sdp\r\n"
    )
    body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + "a=x\r\n" * 40
    return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()
