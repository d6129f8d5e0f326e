"""RTP media for a call: one UDP socket per stream, one clock for every stream of the process.

`MediaClock` is the single scheduler: one task wakes every 20 ms on a fixed grid and has each
stream send its frame (measured on this machine: a task per stream falls apart near 1,000 streams,
one task with a short tick holds them). It keeps how late each tick was, for the benchmark.

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
import os
import struct
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from callgate.telephony.media import g711
from callgate.telephony.media.audio import FRAME, Samples
from callgate.telephony.rtp.dtmf import DtmfReceiver, DtmfSender
from callgate.telephony.rtp.errors import PacketError
from callgate.telephony.rtp.jitter import JitterBuffer
from callgate.telephony.rtp.packet import RtpPacket, header

log = logging.getLogger(__name__)

PERIOD = 0.02
SILENT_FRAME = np.zeros(FRAME, dtype=np.int16)


class MediaClock:
    """Ticks every registered stream every 20 ms, from one task.

    The task wakes every `period / slots` (2 ms) and ticks the streams of that slot: each stream
    keeps its exact 20 ms grid (shifted by its slot), and the process's sending is spread over the
    period instead of leaving in one burst, so no tick waits behind a thousand others.
    """

    def __init__(self, period: float = PERIOD, slots: int = 10) -> None:
        self.period = period
        self.slots = slots
        self._slots: list[dict[int, RtpStream]] = [{} for _ in range(slots)]
        self._where: dict[int, int] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self.lateness: deque[float] = deque(maxlen=200_000)  # seconds each slot's tick was late

    def add(self, stream: RtpStream) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # streams of a loop that is gone are gone too
            self._slots = [{} for _ in range(self.slots)]
            self._where.clear()
            self._task = loop.create_task(self._run())
        if id(stream) in self._where:
            return
        slot = min(range(self.slots), key=lambda i: len(self._slots[i]))  # the least busy slot
        self._slots[slot][id(stream)] = stream
        self._where[id(stream)] = slot
        self._count += 1

    def remove(self, stream: RtpStream) -> None:
        slot = self._where.pop(id(stream), None)
        if slot is not None:
            self._slots[slot].pop(id(stream), None)
            self._count -= 1

    def __len__(self) -> int:
        return len(self._where)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        step = self.period / self.slots
        start, n = loop.time(), 0
        while self._where:
            target = start + n * step
            delay = target - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            streams = self._slots[n % self.slots]
            if streams:
                self.lateness.append(max(0.0, now - target))
            if now - target > 5 * self.period:  # the process stalled: skip the missed ticks
                start, n = now - (n % self.slots) * step, n % self.slots
            n += 1
            for stream in list(streams.values()):
                try:
                    stream.tick()
                except Exception:  # one broken stream must not stop the others
                    log.exception("media stream tick failed")
                    self.remove(stream)


_CLOCK: MediaClock | None = None


def media_clock() -> MediaClock:
    """The process's clock (made on first use)."""
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
    digits_received: list[str] = field(default_factory=list)


class RtpStream(asyncio.DatagramProtocol):
    """One call's RTP: open it, tell it the far end (`connect`), then play, press, listen."""

    def __init__(self, clock: MediaClock | None = None) -> None:
        self.clock = clock if clock is not None else media_clock()
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.codec = "PCMU"
        self.payload_type = 0
        self.dtmf_payload_type: int | None = 101
        self.ssrc = struct.unpack("!I", os.urandom(4))[0]
        self._seq = struct.unpack("!H", os.urandom(2))[0]
        self._ts = struct.unpack("!I", os.urandom(4))[0]
        self._plays: deque[_Playback] = deque()
        self._digits: deque[tuple[DtmfSender, asyncio.Future[None]]] = deque()
        self._jitter = JitterBuffer(depth=2)
        self._dtmf_in = DtmfReceiver()
        self.stats = StreamStats()
        self.listeners: list[Callable[[Samples, Samples], None]] = []  # (inbound, outbound) per tick
        self.digit_listeners: list[Callable[[str], object]] = []
        self.sending = True
        self._silence = bytes([g711.SILENCE["PCMU"]]) * FRAME
        self._last_frame: Samples | None = None
        self._last_payload = b""
        self._remote_ssrc: int | None = None

    @classmethod
    async def open(cls, host: str = "127.0.0.1", clock: MediaClock | None = None) -> RtpStream:
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_datagram_endpoint(lambda: cls(clock), local_addr=(host, 0))
        return stream

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def connect(
        self, remote: tuple[str, int], *, codec: str, payload_type: int, dtmf_payload_type: int | None
    ) -> None:
        """Start sending to `remote` (from the SDP answer) on the clock's next tick."""
        self.remote = remote
        self.codec, self.payload_type, self.dtmf_payload_type = codec, payload_type, dtmf_payload_type
        self._silence = bytes([g711.SILENCE[codec]]) * FRAME
        self._last_frame = None
        self.clock.add(self)

    def close(self) -> None:
        self.clock.remove(self)
        for playback in self._plays:
            if not playback.done.done():
                playback.done.set_result(None)
        for _, done in self._digits:
            if not done.done():
                done.set_result(None)
        self._plays.clear()
        self._digits.clear()
        if self.transport is not None:
            self.transport.close()

    # what the call does

    def play(self, frames: Iterable[Samples]) -> asyncio.Future[None]:
        """Queue audio (20 ms frames, taken lazily: a generator or `itertools.repeat` costs no memory);
        the future completes when the last frame has been sent."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
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
        self._digits.append((DtmfSender(digits), done))
        return done

    # the clock's call

    def tick(self) -> None:
        outbound = self._next_outbound()
        frame = self._jitter.pop()
        if self.listeners:  # decoding is for listeners; without any, the frame is only consumed
            inbound = g711.decode(frame, self.codec) if frame is not None else SILENT_FRAME
            for listener in self.listeners:
                listener(inbound, outbound)

    def _next_outbound(self) -> Samples:
        """Send this tick's packet(s); the audio sent (silence while digits go as events)."""
        ts = self._ts
        self._ts = (self._ts + FRAME) & 0xFFFFFFFF
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
            self._send(self.payload_type, ts, payload, False)
        return samples

    def _send(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> None:
        if self.transport is None or self.remote is None or self.transport.is_closing():
            return
        self._seq = (self._seq + 1) & 0xFFFF
        self.transport.sendto(
            header(payload_type, self._seq, timestamp, self.ssrc, marker) + payload, self.remote
        )
        self.stats.packets_sent += 1
        self.stats.octets_sent += len(payload)

    # the socket's calls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 2 and 200 <= data[1] <= 204:
            return  # RTCP on the RTP port (RFC 5761): not read here
        if len(data) > 12 and data[0] == 0x80 and (data[1] & 0x7F) == self.payload_type:
            # The common case, a plain audio packet (no CSRC, extension, padding): no object made.
            self.stats.packets_received += 1
            self._jitter.push((data[2] << 8) | data[3], data[12:])
            return
        try:
            packet = RtpPacket.parse(data)
        except PacketError:
            self.stats.bad_packets += 1
            return
        self.stats.packets_received += 1
        if packet.payload_type == self.dtmf_payload_type:
            try:
                digit = self._dtmf_in.on_packet(packet.timestamp, packet.payload)
            except PacketError:
                self.stats.bad_packets += 1
                return
            if digit is not None:
                self.stats.digits_received.append(digit)
                for listener in self.digit_listeners:
                    listener(digit)
        elif packet.payload_type == self.payload_type:
            self._jitter.push(packet.sequence, packet.payload)

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)
