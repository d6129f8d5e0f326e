"""A shared port's socket, both ways: sendmmsg/recvmmsg batches and the sendto/recvfrom fallback
behave the same to the port (what is queued leaves in order, a big packet at once, refusals are
reported by index, reads hand each datagram over with the key of its source)."""

from __future__ import annotations

import socket
import time

import pytest

from callgate.telephony.aio import batch_io
from callgate.telephony.aio.batch_io import DatagramBatches, MmsgBatches, PlainBatches, key_of, sockaddr
from callgate.telephony.rtp.packet import RtpPacket


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


@pytest.fixture(params=["sendmmsg", "one by one"])
def sockets(request):
    """(the batches over one socket, a bare peer socket), both ways of moving packets."""
    ours, peer = udp(), udp()
    batches: DatagramBatches
    if request.param == "sendmmsg":
        if batch_io._BATCH_CALLS is None:
            pytest.skip("no sendmmsg/recvmmsg here")
        batches = MmsgBatches(ours, *batch_io._BATCH_CALLS)
    else:
        batches = PlainBatches(ours)
    yield batches, ours, peer
    ours.close()
    peer.close()


def received(sock: socket.socket, count: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            time.sleep(0.001)
    return got


def test_queued_packets_leave_in_order_and_a_big_one_at_once(sockets):
    batches, _, peer = sockets
    name = sockaddr(socket.AF_INET, *peer.getsockname())
    assert name is not None
    assert batches.queue(name, 0, 1, 160, 0xABC, b"\x01" * 160)
    assert batches.queue(name, 101 | 0x80, 2, 160, 0xABC, b"\x02" * 4)  # an event, its marker set
    big = b"\x03" * 1000
    if batches.batched:
        assert not batches.queue(name, 0, 3, 320, 0xABC, big)  # not a queue slot's size: sent now
        [first] = received(peer, 1)
        assert RtpPacket.parse(first).payload == big
    assert batches.flush(skip=set()) == []
    packets = [RtpPacket.parse(data) for data in received(peer, 2)]
    assert [(p.sequence, p.payload_type, p.marker, p.ssrc) for p in packets] == [
        (1, 0, False, 0xABC),
        (2, 101, True, 0xABC),
    ]
    assert batches.flush(skip=set()) == []  # the queue was emptied


def test_skipped_packets_are_not_sent_and_refused_ones_are_reported_by_index(sockets):
    batches, _, peer = sockets
    name = sockaddr(socket.AF_INET, *peer.getsockname())
    nowhere = sockaddr(socket.AF_INET, "127.0.0.1", 0)  # port 0: the kernel refuses to send there
    assert name is not None and nowhere is not None
    for seq, to in enumerate((name, nowhere, name, name), start=1):
        batches.queue(to, 0, seq, 160, 1, b"\x00" * 160)
    refused = batches.flush(skip={2})
    assert [(index, size) for index, size, _ in refused] == [(1, 160)]
    assert [RtpPacket.parse(data).sequence for data in received(peer, 2)] == [1, 4]
    batches.queue(name, 0, 5, 160, 1, b"\x00" * 160)
    batches.discard()
    batches.queue(name, 0, 6, 160, 1, b"\x00" * 160)  # the next to arrive: 5 never left
    assert batches.flush(skip=set()) == []
    assert [RtpPacket.parse(data).sequence for data in received(peer, 1)] == [6]


def test_a_read_hands_each_datagram_over_with_its_sources_key(sockets):
    batches, ours, peer = sockets
    for seq in range(3):
        peer.sendto(RtpPacket(0, seq, 0, 7, bytes([seq]) * 160).serialize(), ours.getsockname())
    got: list[tuple[object, bytes, float]] = []
    arrivals = iter(range(100))
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        batches.receive(
            lambda key, data, start, length, at: got.append((key, bytes(data[start : start + length]), at)),
            lambda: float(next(arrivals)),
        )
    peer_key = key_of(socket.AF_INET, sockaddr(socket.AF_INET, *peer.getsockname()) or b"")
    assert [key for key, _, _ in got] == [peer_key] * 3
    assert [RtpPacket.parse(data).sequence for _, data, _ in got] == [0, 1, 2]
    assert all(isinstance(at, float) for _, _, at in got)


def test_without_the_batch_calls_the_port_gets_the_fallback(monkeypatch):
    sock = udp()
    try:
        monkeypatch.setattr(batch_io, "_BATCH_CALLS", None)
        assert isinstance(batch_io.open_batches(sock), PlainBatches)
    finally:
        sock.close()
