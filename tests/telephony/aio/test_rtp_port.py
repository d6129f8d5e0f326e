"""Streams on the process's shared RTP port: every call's packets on one socket, sent with one
sendmmsg a slot and read with recvmmsg (or a packet at a time where those are missing), and each
datagram handed to the call it belongs to, by the address it came from, then by its SSRC."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

from callgate.telephony.aio import batch_io, rtp_port
from callgate.telephony.aio.media import MediaClock, RtpStream
from callgate.telephony.media import g711
from callgate.telephony.media.audio import frames
from callgate.telephony.media.tones import tone
from callgate.telephony.rtp.packet import RtpPacket
from callgate.telephony.sip.sdp import SessionDescription, build_offer
from tests.audio_checks import best_alignment
from tests.telephony.aio.waits import ticks, until

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sendmmsg", "one by one"])
def batched(request, monkeypatch) -> bool:
    """Both ways of moving the packets: Linux's batch calls, and the fallback without them."""
    if request.param == "one by one":
        monkeypatch.setattr(batch_io, "_BATCH_CALLS", None)
    elif batch_io._BATCH_CALLS is None:
        pytest.skip("no sendmmsg/recvmmsg here")
    return request.param == "sendmmsg"


def connect(a: RtpStream, b: RtpStream | tuple[str, int], announced: int | None = None) -> None:
    """`a` sends to `b`; `announced` is the SSRC b's SDP would have named."""
    address = b.local_address if isinstance(b, RtpStream) else b
    a.connect(address, codec="PCMU", payload_type=0, dtmf_payload_type=101, remote_ssrc=announced)


def heard(stream: RtpStream) -> list[np.ndarray]:
    """What `stream` hears, a frame a tick."""
    frames_heard: list[np.ndarray] = []
    stream.listeners.append(lambda inbound, outbound: frames_heard.append(inbound))
    return frames_heard


class Peer:
    """A bare UDP socket as the far end of calls: it sends RTP of chosen SSRCs and can echo."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.seq = 0

    def send(self, to: tuple[str, int], ssrc: int, payload: bytes = bytes(160)) -> None:
        self.seq += 1
        self.sock.sendto(RtpPacket(0, self.seq, self.seq * 160, ssrc, payload).serialize(), to)

    async def receive(self) -> tuple[bytes, tuple[str, int]]:
        data, addr = await asyncio.wait_for(asyncio.get_running_loop().sock_recvfrom(self.sock, 2048), 5)
        return data, addr[:2]

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_two_calls_on_one_port_each_hear_their_own_peer(batched, host):
    clock = MediaClock()
    s1, s2 = [await RtpStream.open(host, clock, shared=True) for _ in range(2)]
    p1, p2 = [await RtpStream.open(host, clock) for _ in range(2)]
    assert s1.local_address == s2.local_address and s1.port is s2.port
    assert s1.port is not None and s1.port.batched is batched
    for a, b in ((s1, p1), (p1, s1), (s2, p2), (p2, s2)):
        connect(a, b)
    ears = {stream: heard(stream) for stream in (s1, s2, p1, p2)}
    sounds = {s1: tone((440.0,), 0.5), s2: tone((620.0, 1020.0), 0.5), p1: tone((750.0,), 0.5),
              p2: tone((350.0, 440.0), 0.5)}  # fmt: skip
    digits: dict[RtpStream, list[str]] = {s1: [], s2: []}
    for stream, keys in digits.items():
        stream.digit_listeners.append(keys.append)
    try:
        await asyncio.gather(*(stream.play(frames(sound)) for stream, sound in sounds.items()))
        await asyncio.gather(p1.press("12"), p2.press("#9"))
        await until(lambda: len(digits[s1]) == 2 and len(digits[s2]) == 2, s1)
        await ticks(s1, 5)  # the last frames through the jitter buffers
    finally:
        for stream in (s1, s2, p1, p2):
            stream.close()
    assert digits == {s1: ["1", "2"], s2: ["#", "9"]}
    for listener, speaker in ((s1, p1), (p1, s1), (s2, p2), (p2, s2)):
        audio = np.concatenate(ears[listener])
        assert best_alignment(audio, sounds[speaker]) > 0.95
        other = next(
            s for s in sounds if s not in (listener, speaker) and (s in (s1, s2)) == (speaker in (s1, s2))
        )
        assert best_alignment(audio, sounds[other]) < 0.5  # not the other call's audio
    assert s1.port.unmatched == 0
    assert p1.stats.packets_received >= 25 and s1.stats.send_errors == 0


async def test_a_peer_that_answers_calls_on_one_address_is_told_apart_by_announced_ssrcs(batched):
    """A media server that answers every call from one address, naming each stream's SSRC in its
    SDP: each call hears its own SSRC only, before and after the address is shared; an SSRC nobody
    announced is dropped, never guessed."""
    clock = MediaClock()
    server = Peer()
    s1, s2 = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    port = s1.port
    assert port is not None
    to = s1.local_address
    try:
        connect(s1, server.address, announced=0x1111)
        s1.sending = s2.sending = False
        # The second call's first packets, sent before its SDP answer is read: not s1's
        server.send(to, 0x2222, b"\x09" * 160)
        server.send(to, 0x1111, b"\x01" * 160)
        await until(lambda: s1.stats.packets_received == 1, s1)
        assert port.unmatched == 1
        connect(s2, server.address, announced=0x2222)  # the address is now shared by two calls
        server.send(to, 0x2222, b"\x02" * 160)
        server.send(to, 0x1111, b"\x03" * 160)
        server.send(to, 0x5555, b"\x05" * 160)  # nobody's
        server.send(to, 0x2222, b"\x04" * 160)
        await until(lambda: s1.stats.packets_received == 2 and s2.stats.packets_received == 2, s1)
        assert (s1.session.remote_ssrc, s2.session.remote_ssrc) == (0x1111, 0x2222)
        assert port.unmatched == 2
        s2.close()  # s1 is alone on the address again, and still hears only its own SSRC
        server.send(to, 0x2222)
        server.send(to, 0x1111)
        await until(lambda: s1.stats.packets_received == 3, s1)
        assert port.unmatched == 3
    finally:
        s1.close()
        s2.close()
        server.close()


async def test_on_a_shared_address_without_announced_ssrcs_nothing_is_guessed(batched):
    """Without a=ssrc, a call alone on its peer's address hears whatever comes from there, as on a
    port of its own; once another call shares the address, packets that are not echoes can be
    for either call and are dropped, even the SSRC the first call heard before."""
    clock = MediaClock()
    server, stranger = Peer(), Peer()
    s1, s2 = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    port = s1.port
    assert port is not None
    to = s1.local_address
    try:
        connect(s1, server.address)
        s1.sending = s2.sending = False
        server.send(to, 0x1111)
        server.send(to, 0x7777)  # a new SSRC from its peer (a transfer): heard too
        await until(lambda: s1.stats.packets_received == 2, s1)
        connect(s2, server.address)
        server.send(to, 0x1111)
        server.send(to, 0x2222)
        stranger.send(to, 0x1111)  # an address no call takes RTP from
        await until(lambda: port.unmatched == 3, s1)
        assert (s1.stats.packets_received, s2.stats.packets_received) == (2, 0)
    finally:
        s1.close()
        s2.close()
        server.close()
        stranger.close()


async def test_streams_of_one_port_never_share_an_ssrc(batched):
    clock = MediaClock()
    s1 = await RtpStream.open(clock=clock, shared=True)
    port = s1.port
    assert port is not None
    twin = RtpStream(None, clock, port)
    twin.session.ssrc = s1.ssrc  # the 1-in-2**32 draw, forced
    try:
        port.attach(twin)
        assert twin.ssrc != s1.ssrc and twin.session.cname == f"callgate-{twin.ssrc:08x}@callgate"
        assert len(port) == 2
    finally:
        twin.close()
        s1.close()


async def test_rtcp_from_a_shared_address_reaches_the_call_its_sender_announced(batched):
    from callgate.telephony.aio.udp import bound_pair
    from callgate.telephony.rtp.rtcp import SenderReport, serialize_compound

    clock = MediaClock()
    rtp, rtcp = bound_pair(socket.AF_INET, "127.0.0.1")  # a media server's RTP and RTCP ports
    server = rtp.getsockname()
    s1, s2 = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    port = s1.port
    assert port is not None
    rtcp_to = (s1.local_address[0], s1.local_address[1] + 1)
    try:
        connect(s1, server, announced=0xAAAA)
        connect(s2, server, announced=0xBBBB)
        s1.sending = s2.sending = False
        rtcp.sendto(serialize_compound([SenderReport(0xBBBB, 1 << 32, 0, 0, 0, ())]), rtcp_to)
        rtcp.sendto(serialize_compound([SenderReport(0xCCCC, 1 << 32, 0, 0, 0, ())]), rtcp_to)  # nobody's
        await until(lambda: port.rtcp.unmatched == 1 and s2.session.last_sr is not None, s1)
        assert s1.session.last_sr is None
    finally:
        s1.close()
        s2.close()
        rtp.close()
        rtcp.close()


async def test_an_echo_of_several_calls_goes_back_to_each_sender(batched):
    """Like SIPp's -rtp_echo: one address echoes every call's packets; each call's own SSRC brings
    its echo home."""
    clock = MediaClock()
    echo = Peer()
    streams = [await RtpStream.open(clock=clock, shared=True) for _ in range(3)]
    sounds = [tone((300.0 + 200 * i,), 0.4) for i in range(len(streams))]
    ears = [heard(stream) for stream in streams]
    stop = asyncio.Event()

    async def echo_back() -> None:
        while not stop.is_set():
            try:
                data, addr = await asyncio.wait_for(echo.receive(), 0.5)
            except TimeoutError:
                continue
            echo.sock.sendto(data, addr)

    echoing = asyncio.ensure_future(echo_back())
    try:
        for stream in streams:
            connect(stream, echo.address)
        await asyncio.gather(*(s.play(frames(sound)) for s, sound in zip(streams, sounds, strict=True)))
        await until(
            lambda: all(s.stats.packets_received >= s.stats.packets_sent - 2 for s in streams), streams[0]
        )
        await ticks(streams[0], 5)
    finally:
        stop.set()
        await echoing
        for stream in streams:
            stream.close()
        echo.close()
    for stream, ear, sound in zip(streams, ears, sounds, strict=True):
        assert stream.session.remote_ssrc == stream.ssrc
        assert best_alignment(np.concatenate(ear), sound) > 0.95
    assert streams[0].port is not None and streams[0].port.unmatched == 0


async def test_calls_of_the_process_to_each_other_on_the_shared_port(batched):
    """Both ends of two calls on the one port (every remote address is the port's own): the SSRCs
    each side's SDP announced tell the four streams apart, and a stream's own SSRC coming from there
    is its peer's audio, never an echo."""
    from callgate.telephony.sip.sdp import answer_offer, negotiate_answer

    clock = MediaClock()
    a, b, c, d = [await RtpStream.open(clock=clock, shared=True) for _ in range(4)]
    for caller, callee in ((a, b), (c, d)):  # the offer/answer of each call, as its legs make it
        offer = build_offer(*caller.local_address, 1, 1, **caller.sdp_ssrc())
        answer, at_callee = answer_offer(
            SessionDescription.parse(offer.serialize()), *callee.local_address, 2, 1, **callee.sdp_ssrc()
        )
        at_caller = negotiate_answer(offer, SessionDescription.parse(answer.serialize()))
        assert (at_caller.remote_ssrc, at_callee.remote_ssrc) == (callee.ssrc, caller.ssrc)
        caller.apply(at_caller)
        callee.apply(at_callee)
    ears = {stream: heard(stream) for stream in (a, b, c, d)}
    sounds = {stream: tone((300.0 + 150 * i,), 0.4) for i, stream in enumerate((a, b, c, d))}
    try:
        await asyncio.gather(*(stream.play(frames(sound)) for stream, sound in sounds.items()))
        await ticks(a, 5)
    finally:
        for stream in (a, b, c, d):
            stream.close()
    for listener, speaker in ((a, b), (b, a), (c, d), (d, c)):
        assert listener.session.remote_ssrc == speaker.ssrc
        assert best_alignment(np.concatenate(ears[listener]), sounds[speaker]) > 0.95
    assert a.port is not None and a.port.unmatched == 0


async def test_two_calls_to_each_other_without_announced_ssrcs_hear_nothing_rather_than_a_guess(batched):
    clock = MediaClock()
    a, b = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    connect(a, b)
    connect(b, a)
    try:
        a.play(frames(tone((440.0,), 0.2)))
        b.play(frames(tone((440.0,), 0.2)))
        await until(lambda: a.port is not None and a.port.unmatched >= 10, a)
    finally:
        a.close()
        b.close()
    assert (a.stats.packets_received, b.stats.packets_received) == (0, 0)


async def test_rtcp_on_the_shared_port_reaches_each_call(batched):
    clock = MediaClock()
    s1, s2 = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    p1, p2 = [await RtpStream.open(clock=clock) for _ in range(2)]
    for a, b in ((s1, p1), (p1, s1), (s2, p2), (p2, s2)):
        connect(a, b)
        a.rtcp_interval = 10  # a report every ~200 ms instead of 5 s
    try:
        for stream in (s1, s2, p1, p2):
            stream.play(frames(tone((440.0,), 3.0)))
        calls = (s1, s2, p1, p2)
        await until(lambda: all(s.quality.rtt_avg_ms is not None for s in calls), s1)
    finally:
        for stream in (s1, s2, p1, p2):
            stream.close()
    for stream in (s1, s2, p1, p2):
        assert stream.quality.rtt_avg_ms is not None and 0 <= stream.quality.rtt_avg_ms < 1000
        assert stream.quality.loss_percent == 0.0
    assert s1.port is not None and s1.port.rtcp.unmatched == 0


async def test_a_closed_call_sends_nothing_more_and_the_last_one_closes_the_port(batched):
    clock = MediaClock()
    peer = Peer()
    s1, s2 = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    port = s1.port
    assert port is not None
    try:
        for stream in (s1, s2):
            connect(stream, peer.address)
            stream.sending = False
        name = rtp_port.sockaddr(port.family, *peer.address)
        assert name is not None
        port.queue(s1, name, 0, 1, 160, b"\x01" * 160)
        port.queue(s2, name, 0, 7, 160, b"\x02" * 160)
        s1.close()  # before the clock's flush: its packet stays unsent
        port.flush()
        data, source = await peer.receive()
        assert source == port.address and RtpPacket.parse(data).ssrc == s2.ssrc
        with pytest.raises(BlockingIOError):
            peer.sock.recv(2048)
        assert port.sock.fileno() != -1  # s2 still uses it
    finally:
        s2.close()
    assert port.sock.fileno() == -1 and clock._ports == {}
    again = await RtpStream.open(clock=clock, shared=True)
    try:
        assert again.port is not port and again.port is not None and again.port.sock.fileno() != -1
    finally:
        again.close()
        peer.close()


async def test_a_packet_the_kernel_refuses_is_lost_alone(batched):
    clock = MediaClock()
    peer = Peer()
    s1, s2 = [await RtpStream.open(clock=clock, shared=True) for _ in range(2)]
    port = s1.port
    assert port is not None
    try:
        connect(s1, ("127.0.0.1", 0))  # port 0: the kernel refuses to send there (EINVAL)
        connect(s2, peer.address)
        for stream in (s1, s2):
            stream.sending = False
        for stream in (s2, s1, s2):
            assert stream._sockaddr is not None
            stream.stats.packets_sent += 1  # as _send counts a queued packet
            port.queue(stream, stream._sockaddr, 0, stream.stats.packets_sent, 160, b"\x05" * 160)
        port.flush()
        first, _ = await peer.receive()
        second, _ = await peer.receive()
        assert [RtpPacket.parse(d).sequence for d in (first, second)] == [1, 2]
        assert (s1.stats.packets_sent, s1.stats.send_errors) == (0, 1)
        assert (s2.stats.packets_sent, s2.stats.send_errors) == (2, 0)
    finally:
        s1.close()
        s2.close()
        peer.close()


def test_addresses_of_the_other_family_or_names_are_not_routed():
    assert rtp_port.sockaddr(socket.AF_INET, "::1", 5004) is None
    assert rtp_port.sockaddr(socket.AF_INET, "media.example.com", 5004) is None
    v4 = rtp_port.sockaddr(socket.AF_INET, "192.0.2.7", 5004)
    assert v4 is not None and len(v4) == 16 and v4[2:8] == bytes([0x13, 0x8C, 192, 0, 2, 7])
    mapped = rtp_port.sockaddr(socket.AF_INET6, "192.0.2.7", 5004)  # a dual-stack socket's view
    assert (
        mapped is not None
        and len(mapped) == 28
        and mapped[8:24] == bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 7])
    )
    assert rtp_port.key_of(socket.AF_INET, v4) != rtp_port.key_of(
        socket.AF_INET, rtp_port.sockaddr(socket.AF_INET, "192.0.2.7", 5006) or b""
    )


async def test_what_a_shared_call_sends_decodes_to_what_it_played(batched):
    clock = MediaClock()
    peer = Peer()
    stream = await RtpStream.open(clock=clock, shared=True)
    try:
        connect(stream, peer.address)
        sound = tone((500.0,), 0.1)
        stream.play(frames(sound))
        payloads = []
        while len(payloads) < 5:
            data, _ = await peer.receive()
            payloads.append(RtpPacket.parse(data).payload)
    finally:
        stream.close()
        peer.close()
    assert best_alignment(np.concatenate([g711.decode(p, "PCMU") for p in payloads]), sound[:800]) > 0.95


async def test_calls_that_start_together_share_one_port(batched):
    clock = MediaClock()
    streams = await asyncio.gather(*(RtpStream.open(clock=clock, shared=True) for _ in range(5)))
    try:
        assert len({id(s.port) for s in streams}) == 1 and len(clock._ports) == 1
        assert len(streams[0].port or ()) == 5
    finally:
        for stream in streams:
            stream.close()
    assert clock._ports == {} and streams[0].port is not None and streams[0].port.closed


async def test_garbage_from_a_peer_is_counted_by_its_call_and_from_strangers_by_the_port(batched):
    clock = MediaClock()
    peer, stranger = Peer(), Peer()
    stream = await RtpStream.open(clock=clock, shared=True)
    port = stream.port
    assert port is not None
    try:
        connect(stream, peer.address)
        stream.sending = False
        peer.sock.sendto(b"\x00\x01garbage", stream.local_address)  # too short for RTP
        peer.sock.sendto(b"\x40" + bytes(20), stream.local_address)  # RTP version 1
        stranger.sock.sendto(b"\x00\x01garbage", stream.local_address)
        peer.send(stream.local_address, 0x1234)  # a packet behind them, to know they were read
        await until(lambda: stream.stats.packets_received == 1, stream)
        assert stream.stats.bad_packets == 2 and port.unmatched == 1
    finally:
        stream.close()
        peer.close()
        stranger.close()


@pytest.mark.skipif(batch_io._BATCH_CALLS is None, reason="no recvmmsg here")
async def test_one_read_takes_a_bounded_number_of_datagrams():
    """A flood on the port cannot keep the clock from its ticks: a read takes at most 8 batches of 64;
    the rest waits for the next slot."""
    clock = MediaClock()
    peer = Peer()
    stream = await RtpStream.open(clock=clock, shared=True)
    port = stream.port
    assert port is not None
    try:
        connect(stream, peer.address)
        stream.sending = False
        for _ in range(600):  # on loopback each is in the socket's queue when sendto returns
            peer.send(stream.local_address, 0x1234)
        port.readable()  # no await since the sends: the clock has not read any of them
        assert stream.stats.packets_received == 8 * 64
        port.readable()
        assert stream.stats.packets_received == 600
    finally:
        stream.close()
        peer.close()
