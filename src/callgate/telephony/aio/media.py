"""RTP media for a call: a UDP socket per stream (or one shared port), one clock for every stream.

The streams are ticked and their sockets read by the process's `MediaClock` (clock.py, which says
how); a stream opened with `shared=True` uses the process's `SharedRtpPort` (rtp_port.py) instead of
a socket of its own.

`RtpStream` is one call's audio. Outgoing, on each tick it sends the next queued frame (speech,
a file, a tone, an echo) or silence, G.711-encoded, or, while digits are being pressed, RFC 4733
event packets instead; sequence and timestamp advance every tick, so the far end's clock never
jumps. Incoming, packets are parsed (garbage is counted, never raised), events become digits (each
once), and audio goes through the jitter buffer; on each tick the next received frame (silence for
a lost one) is decoded and handed to the listeners: recorders, echo, detectors.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from callgate.telephony.aio.clock import PERIOD, MediaClock
from callgate.telephony.aio.rtp_port import SharedRtpPort
from callgate.telephony.aio.udp import bound_pair, ip_family
from callgate.telephony.media import g711
from callgate.telephony.media.audio import FRAME, Samples
from callgate.telephony.media.tones import DtmfDetector
from callgate.telephony.rtp.dtmf import DtmfReceiver, DtmfSender
from callgate.telephony.rtp.errors import PacketError
from callgate.telephony.rtp.jitter import JitterBuffer
from callgate.telephony.rtp.packet import RtpPacket
from callgate.telephony.rtp.session import Entropy, RtpSession
from callgate.telephony.sip.sdp import Negotiated

log = logging.getLogger(__name__)

__all__ = ["PERIOD", "MediaClock", "RtpStream", "StreamStats", "bridge", "media_clock"]

_FIXED = struct.Struct("!BBHII")  # the RTP fixed header
_SYSTEM_RANDOM = random.SystemRandom()  # SSRCs and first sequence numbers from the OS (RFC 3550 5.1)
SILENT_FRAME = np.zeros(FRAME, dtype=np.int16)


_CLOCK: MediaClock | None = None


def media_clock() -> MediaClock:
    """The clock of the streams whose caller passes none (made on first use). The composition root
    should make a `MediaClock` and hand it to `RtpStream.open`; until every caller does (the engine's
    runner and the sandbox's phones do not yet), this is the one they share."""
    global _CLOCK
    if _CLOCK is None:
        _CLOCK = MediaClock()
    return _CLOCK


@dataclass
class _Playback:
    frames: Iterator[Samples]
    done: asyncio.Future[None]


@dataclass
class StreamStats:
    packets_sent: int = 0
    octets_sent: int = 0
    packets_received: int = 0
    bad_packets: int = 0
    send_errors: int = 0
    digits_received: list[str] = field(default_factory=list)


class RtpStream:
    """One call's RTP: open it, tell it the far end (`connect`), then play, press, listen."""

    def __init__(
        self,
        sock: socket.socket | None,
        clock: MediaClock | None = None,
        port: SharedRtpPort | None = None,
        *,
        entropy: Entropy = _SYSTEM_RANDOM,
    ) -> None:
        self.clock = clock if clock is not None else media_clock()
        # SSRC, sequence, timestamp and RTCP: pure state, given the time and a random source
        self.session = session = RtpSession(entropy)
        # Its own socket (non-blocking, bound; read by the clock, written on its ticks), or a shared port.
        self.sock = sock
        self.port = port
        self._sockaddr: bytes | None = None  # the remote as the shared port sends to it
        self.remote: tuple[str, int] | None = None
        self.codec = "PCMU"
        self.payload_type = 0
        self.dtmf_payload_type: int | None = 101
        self._plays: deque[_Playback] = deque()
        self._digits: deque[tuple[DtmfSender, asyncio.Future[None]]] = deque()
        self._jitter = JitterBuffer(depth=2)
        self._dtmf_in = DtmfReceiver()
        self.stats = StreamStats()
        self.listeners: list[Callable[[Samples, Samples], None]] = []  # (inbound, outbound) per tick
        self.digit_listeners: list[Callable[[str], object]] = []
        self.sending = True
        self.rtcp: _RtcpPort | None = None
        self.rtcp_remote: tuple[str, int] | None = None
        self.quality = session.quality
        self._receiver = session.receiver
        self._closed = False
        self._inband: DtmfDetector | None = None
        self._silence = bytes([g711.SILENCE["PCMU"]]) * FRAME
        self._last_frame: Samples | None = None
        self._last_payload = b""

    @property
    def ssrc(self) -> int:
        return self.session.ssrc

    @property
    def rtcp_interval(self) -> int:
        """Ticks between RTCP reports, on average (250: 5 s, RFC 3550 6.2)."""
        return self.session.rtcp_interval

    @rtcp_interval.setter
    def rtcp_interval(self, ticks: int) -> None:
        self.session.rtcp_interval = ticks

    def new_ssrc(self) -> None:
        """Draw another SSRC (before the stream has sent anything: a shared port's streams need
        SSRCs of their own)."""
        self.session.new_ssrc()

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        clock: MediaClock | None = None,
        *,
        shared: bool = False,
        entropy: Entropy = _SYSTEM_RANDOM,
    ) -> RtpStream:
        """A stream on an even port, its RTCP on the next one (RFC 3550 11), both on `host`: ports
        of its own, or with `shared` the process's one shared port pair on `host` (`SharedRtpPort`)."""
        loop = asyncio.get_running_loop()
        family = ip_family(host)
        if family is None:  # a name: bound on the first address it resolves to
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
            if not infos:
                raise OSError(f"{host} resolves to no address")
            family, host = infos[0][0], str(infos[0][4][0])
        if shared:
            clock = clock if clock is not None else media_clock()
            port = await clock.shared_port(family, host)
            stream = cls(None, clock, port, entropy=entropy)
            port.attach(stream)
            stream.rtcp = port.rtcp  # type: ignore[assignment]
            return stream
        rtp_sock, rtcp_sock = bound_pair(family, host)
        stream = cls(rtp_sock, clock, entropy=entropy)
        try:
            _, rtcp = await loop.create_datagram_endpoint(partial(_RtcpPort, stream), sock=rtcp_sock)
        except BaseException:
            rtp_sock.close()
            rtcp_sock.close()
            raise
        stream.rtcp = rtcp
        stream.clock.read(stream, rtp_sock)
        return stream

    @property
    def local_address(self) -> tuple[str, int]:
        if self.port is not None:
            return self.port.address
        assert self.sock is not None
        host, port = self.sock.getsockname()[:2]
        return host, port

    def sdp_ssrc(self) -> dict[str, Any]:
        """What our SDP announces of the stream (`build_offer`/`answer_offer` keywords): on a shared
        port its SSRC and CNAME (RFC 5576), so that a peer sharing a port too can tell calls apart."""
        return {"ssrc": self.ssrc, "cname": self.session.cname} if self.port is not None else {}

    def connect(
        self,
        remote: tuple[str, int],
        *,
        codec: str,
        payload_type: int,
        dtmf_payload_type: int | None,
        remote_ssrc: int | None = None,
    ) -> None:
        """Start sending to `remote` (from the SDP answer) on the clock's next tick; `remote_ssrc` is
        the SSRC the peer's SDP announced, if it did."""
        self.remote = remote
        self.rtcp_remote = (remote[0], remote[1] + 1)
        if self.port is not None and not self._closed:
            self._sockaddr = self.port.route(self, remote, remote_ssrc)
        self.codec, self.payload_type, self.dtmf_payload_type = codec, payload_type, dtmf_payload_type
        self._silence = bytes([g711.SILENCE[codec]]) * FRAME
        self._last_frame = None
        # No telephone-event negotiated: keys are listened for in the audio itself (Goertzel), while
        # anyone listens for keys.
        self._inband = DtmfDetector() if dtmf_payload_type is None else None
        self.clock.add(self)

    def apply(self, negotiated: Negotiated) -> None:
        """Follow an offer/answer: send where and how it settled, and only while our side may send
        (not when the peer holds the call or we offered to only listen)."""
        self.connect(
            (negotiated.remote_address, negotiated.remote_port),
            codec=negotiated.codec,
            payload_type=negotiated.payload_type,
            dtmf_payload_type=negotiated.dtmf_payload_type,
            remote_ssrc=negotiated.remote_ssrc,
        )
        self.sending = negotiated.local_direction in ("sendrecv", "sendonly") and not negotiated.on_hold

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.rtcp is not None and self.rtcp.transport is not None:
            if self.remote is not None:
                try:
                    self._send_rtcp(bye=True)
                except OSError:
                    pass
            if self.port is None:
                self.rtcp.transport.close()
        self.clock.remove(self)
        for playback in self._plays:
            if not playback.done.done():
                playback.done.set_result(None)
        for _, done in self._digits:
            if not done.done():
                done.set_result(None)
        self._plays.clear()
        self._digits.clear()
        if self.port is not None:
            self.port.detach(self)
            self.clock.release(self.port)
            return
        assert self.sock is not None
        self.clock.unread(self.sock)
        self.sock.close()

    # what the call does

    def play(self, frames: Iterable[Samples]) -> asyncio.Future[None]:
        """Queue audio (20 ms frames, taken lazily: a generator or `itertools.repeat` costs no memory);
        the future completes when the last frame has been sent."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:  # nothing will be sent: done at once, so nobody waits for a closed call
            done.set_result(None)
            return done
        self._plays.append(_Playback(iter(frames), done))
        return done

    def stop_playing(self) -> None:
        for playback in self._plays:
            if not playback.done.done():
                playback.done.set_result(None)
        self._plays.clear()

    def press(self, digits: str) -> asyncio.Future[None]:
        """Send `digits` as RFC 4733 events (SendDigits syntax); completes when all are sent."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed:
            done.set_result(None)
            return done
        self._digits.append((DtmfSender(digits), done))
        return done

    # the clock's call

    def tick(self) -> None:
        if self.session.tick():  # an RTCP report is due (about every 5 s, RFC 3550 6.2)
            self._send_rtcp()
        self._hand_over(self._next_outbound())

    def missed_tick(self) -> None:
        """A tick the clock could not run in time (the process stalled): nothing is sent (silence is
        what the far end heard), and the listeners get the frame received for it."""
        self._hand_over(SILENT_FRAME)

    def _hand_over(self, outbound: Samples) -> None:
        """The tick's received frame (silence for a lost one) and `outbound` to the listeners."""
        frame = self._jitter.pop()
        inband = self._inband if self.digit_listeners else None
        if self.listeners or inband is not None:  # decoding is for listeners; else the frame is dropped
            inbound = g711.decode(frame, self.codec) if frame is not None else SILENT_FRAME
            for listener in self.listeners:
                listener(inbound, outbound)
            if inband is not None:
                for key in inband.feed(inbound):
                    self._digit(key)

    def _next_outbound(self) -> Samples:
        """Send this tick's packet(s); the audio sent (silence while digits go as events)."""
        session = self.session
        ts = session.timestamp
        session.timestamp = (ts + FRAME) & 0xFFFFFFFF  # RtpSession.next_timestamp, inline (every tick)
        while self._digits:
            sender, done = self._digits[0]
            packets = sender.tick(ts)
            if packets is None:
                self._digits.popleft()
                if not done.done():
                    done.set_result(None)
                continue
            if packets and self.dtmf_payload_type is not None:
                for packet in packets:
                    self._send(self.dtmf_payload_type, packet.timestamp, packet.payload, packet.marker)
                return SILENT_FRAME
            break
        samples = SILENT_FRAME
        while self._plays:
            playback = self._plays[0]
            frame = next(playback.frames, None)
            if frame is not None:
                samples = frame
                break
            self._plays.popleft()
            if not playback.done.done():
                playback.done.set_result(None)
        if self.sending:
            if samples is SILENT_FRAME:
                payload = self._silence
            elif samples is self._last_frame:  # a looped frame (hold music, a tone): encoded once
                payload = self._last_payload
            else:
                payload = g711.encode(samples, self.codec)
                self._last_frame, self._last_payload = samples, payload
            name = self._sockaddr
            if name is not None and not self._closed:  # on a shared port: queued, without `_send`
                seq = session.sequence = (session.sequence + 1) & 0xFFFF
                self.port.queue(self, name, self.payload_type, seq, ts, payload)  # type: ignore[union-attr]
                stats = self.stats
                stats.packets_sent += 1
                stats.octets_sent += len(payload)
            else:
                self._send(self.payload_type, ts, payload, False)
        return samples

    def _send(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> None:
        if self.remote is None or self._closed:
            return
        seq = self.session.next_sequence()
        second = payload_type | 0x80 if marker else payload_type
        stats = self.stats
        if self.port is not None:
            if self._sockaddr is None:  # not an address of the port's family: nowhere to send
                stats.send_errors += 1
                return
            self.port.queue(self, self._sockaddr, second, seq, timestamp & 0xFFFFFFFF, payload)
            stats.packets_sent += 1
            stats.octets_sent += len(payload)
            return
        assert self.sock is not None
        try:
            self.sock.sendto(
                _FIXED.pack(0x80, second, seq, timestamp & 0xFFFFFFFF, self.ssrc) + payload, self.remote
            )
        except OSError as exc:
            # A full send buffer (BlockingIOError) or an unreachable peer: this packet is lost, as
            # it would be on the wire; a packet sent late would be of no use to the far end.
            self.stats.send_errors += 1
            log.debug("RTP send failed: %s", exc)
            return
        stats.packets_sent += 1
        stats.octets_sent += len(payload)

    # the socket's calls

    def readable(self) -> None:
        """The clock saw a datagram on the socket: read one (a later slot reads any other)."""
        assert self.sock is not None
        try:
            data = self.sock.recv(2048)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. an ICMP error queued on the socket
            log.debug("RTP socket error: %s", exc)
            return
        self.datagram_received(data)

    def audio_received(self, seq: int, timestamp: int, ssrc: int, payload: bytes, arrival: float) -> None:
        """A plain audio packet, its header read (by `datagram_received`, or by a shared port)."""
        self.stats.packets_received += 1
        self.session.remote_ssrc = ssrc
        self._jitter.push(seq, payload)
        self._receiver.on_packet(seq, timestamp, arrival)

    def datagram_received(self, data: bytes) -> None:
        if len(data) >= 2 and 200 <= data[1] <= 204:
            return  # RTCP on the RTP port (RFC 5761): not read here
        if len(data) > 12 and data[0] == 0x80 and (data[1] & 0x7F) == self.payload_type:
            # The common case, a plain audio packet (no CSRC, extension, padding): no object made.
            _, _, seq, timestamp, ssrc = _FIXED.unpack_from(data)
            self.audio_received(seq, timestamp, ssrc, data[12:], self.clock.monotonic())
            return
        try:
            packet = RtpPacket.parse(data)
        except PacketError:
            self.stats.bad_packets += 1
            return
        self.stats.packets_received += 1
        if packet.payload_type == self.dtmf_payload_type:
            self._receiver.on_event_packet(packet.sequence)
            try:
                digit = self._dtmf_in.on_packet(packet.timestamp, packet.payload)
            except PacketError:
                self.stats.bad_packets += 1
                return
            if digit is not None:
                self._digit(digit)
        elif packet.payload_type == self.payload_type:
            self._jitter.push(packet.sequence, packet.payload)
            self._receiver.on_packet(packet.sequence, packet.timestamp, self.clock.monotonic())

    def _digit(self, digit: str) -> None:
        self.stats.digits_received.append(digit)
        for listener in list(self.digit_listeners):
            listener(digit)

    # RTCP (RFC 3550 6): our reports out, theirs in, the call's quality from both.

    def _send_rtcp(self, *, bye: bool = False) -> None:
        if self.rtcp is None or self.rtcp.transport is None or self.rtcp_remote is None:
            return
        stats, clock = self.stats, self.clock
        report = self.session.report(
            clock.wall(), clock.monotonic(), stats.packets_sent, stats.octets_sent, bye=bye
        )
        self.rtcp.transport.sendto(report, self.rtcp_remote)

    def rtcp_received(self, data: bytes) -> None:
        try:
            self.session.report_received(data, self.clock.wall(), self.clock.monotonic())
        except PacketError:
            self.stats.bad_packets += 1


class _RtcpPort(asyncio.DatagramProtocol):
    """The RTCP socket beside a stream's RTP socket."""

    def __init__(self, stream: RtpStream) -> None:
        self.stream = stream
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stream.rtcp_received(data)


def bridge(a: RtpStream, b: RtpStream) -> Callable[[], None]:
    """Connect two calls' audio (for Dial and transfers): what each hears, the other is sent, a frame
    later, re-packetised in its own codec, sequence and timestamps; digits pressed on one are pressed
    on the other. Returns the function that undoes the bridge."""

    def a_to_b(inbound: Samples, outbound: Samples) -> None:
        b.play((inbound,))

    def b_to_a(inbound: Samples, outbound: Samples) -> None:
        a.play((inbound,))

    a.listeners.append(a_to_b)
    b.listeners.append(b_to_a)
    a.digit_listeners.append(b.press)
    b.digit_listeners.append(a.press)

    def unbridge() -> None:
        for stream, listener, other in ((a, a_to_b, b), (b, b_to_a, a)):
            if listener in stream.listeners:
                stream.listeners.remove(listener)
            if other.press in stream.digit_listeners:
                stream.digit_listeners.remove(other.press)

    return unbridge
