"""DTMF as RTP events (RFC 4733, which replaced RFC 2833): the payload, a sender, a receiver.

An event payload is 4 bytes: the event code (0-9, * = 10, # = 11, A-D = 12-15), the E (end) bit,
a volume (0-63, in -dBm0), and the duration so far in timestamp units. Every packet of one event
carries the timestamp of the event's start; the first has the marker bit; the duration grows each
packet; the end packet is sent three times (2.5.1.4) so that a loss does not lose the end.

`DtmfSender` turns a `SendDigits`-style string (`0-9 * # A-D`, `w` = a half-second pause, `W` = a
one-second pause) into what to send on each 20 ms tick. `DtmfReceiver` turns received events into
digits, once each: a digit is reported when its event starts (the first packet with a new start
timestamp), so a lost end packet loses nothing and the retransmitted ends are ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from callgate.telephony.rtp.errors import PacketError

EVENTS = "0123456789*#ABCD"
#: digit -> RFC 4733 event code
CODES = {digit: code for code, digit in enumerate(EVENTS)}
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    event: int
    end: bool
    volume: int
    duration: int

    @property
    def digit(self) -> str | None:
        return EVENTS[self.event] if self.event < len(EVENTS) else None

    @classmethod
    def parse(cls, payload: bytes) -> DtmfEvent:
        if len(payload) < 4:
            raise PacketError(f"telephone-event payload of {len(payload)} bytes, expected 4")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def serialize(self) -> bytes:
        return _PAYLOAD.pack(
            self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration & 0xFFFF
        )


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One RTP packet of an event: its payload, the marker bit, and the event's start timestamp."""

    payload: bytes
    marker: bool
    timestamp: int


class DtmfSender:
    """What to send, tick by tick, to press `digits`.

    Call `tick(timestamp)` once per frame with the stream's timestamp for that frame. It returns the
    event packets for this frame (send them instead of audio), an empty list for a frame with no
    event (a pause or the gap between digits: send audio or silence as usual), or None when every
    digit has been sent.
    """

    def __init__(
        self,
        digits: str,
        *,
        samples_per_frame: int = 160,
        tone_frames: int = 5,
        gap_frames: int = 3,
        end_repeats: int = 3,
        volume: int = 10,
    ) -> None:
        for char in digits:
            if char not in CODES and char not in "wW":
                raise ValueError(f"cannot press {char!r}: digits are 0-9 * # A-D, w and W pause")
        self._steps: list[tuple[str, int]] = []  # ("event", code) or ("quiet", frames)
        for char in digits:
            if char == "w":
                self._steps.append(("quiet", 25))  # 0.5 s of 20 ms frames
            elif char == "W":
                self._steps.append(("quiet", 50))
            else:
                self._steps.append(("event", CODES[char]))
                self._steps.append(("quiet", gap_frames))
        self._spf = samples_per_frame
        self._tone = tone_frames
        self._ends = end_repeats
        self._volume = volume
        self._step = 0
        self._frame = 0  # frame within the current step
        self._start = 0  # the current event's start timestamp

    def tick(self, timestamp: int) -> list[EventPacket] | None:
        while self._step < len(self._steps):
            kind, value = self._steps[self._step]
            if kind == "quiet":
                if self._frame < value:
                    self._frame += 1
                    return []
            else:
                if self._frame == 0:
                    self._start = timestamp
                if self._frame < self._tone:
                    self._frame += 1
                    duration = self._frame * self._spf
                    end = self._frame == self._tone
                    event = DtmfEvent(value, end, self._volume, duration).serialize()
                    packets = [EventPacket(event, self._frame == 1, self._start)]
                    if end:
                        packets += [EventPacket(event, False, self._start)] * (self._ends - 1)
                    return packets
            self._step += 1
            self._frame = 0
        return None


class DtmfReceiver:
    """Digits from received telephone-event packets, each once, in order."""

    def __init__(self) -> None:
        self._current: int | None = None  # start timestamp of the event being received
        self._ended: set[int] = set()

    def on_packet(self, timestamp: int, payload: bytes) -> str | None:
        """The digit a new event starts with, else None (a continuation, an end, a repeat)."""
        event = DtmfEvent.parse(payload)
        if timestamp == self._current or timestamp in self._ended:
            if event.end:
                self._ended.add(timestamp)
                if len(self._ended) > 64:  # only the recent past can be repeated
                    self._ended = set(sorted(self._ended)[-32:])
            return None
        self._current = timestamp
        if event.end:
            self._ended.add(timestamp)
        return event.digit
