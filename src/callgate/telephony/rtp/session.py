"""One RTP stream's own state, without a clock, a socket or a global random source.

Theory of operation. A stream sends as one SSRC, with a sequence number that advances by one a
packet and a timestamp that advances by one frame a tick, all three drawn at random to start
(RFC 3550 5.1). Every tick may be the one when an RTCP report is due: about every `rtcp_interval`
ticks, the first sooner, each interval randomised by 0.5-1.5 so that streams do not synchronise
(6.2). The report is a compound packet: a sender report once we have sent (receiver report before),
with a report block about the peer's stream once it has left probation, and our CNAME (6.5.1); a
BYE last when the call ends. The peer's reports give the round-trip time (6.4.1).

The caller passes the random source in (`Entropy`: the shell gives it `random.SystemRandom()`, a test
a seeded `random.Random`) and the time into each call that needs it: `wall` (Unix time, for NTP
timestamps) and `now` (a monotonic clock, for the jitter and the delay since the last SR).
"""

from __future__ import annotations

from typing import Protocol

from callgate.telephony.rtp.rtcp import (
    Goodbye,
    ReceiverReport,
    SenderReport,
    SourceDescription,
    middle_32,
    ntp_from_unix,
    parse_compound,
    serialize_compound,
)
from callgate.telephony.rtp.stats import CallQuality, ReceiverStats, round_trip_time

DEFAULT_RTCP_INTERVAL = 250  # ticks between RTCP reports, on average (5 s of 20 ms ticks, RFC 3550 6.2)


class Entropy(Protocol):
    """What a stream draws at random: its SSRC, first sequence number and timestamp; RTCP intervals."""

    def getrandbits(self, k: int, /) -> int: ...

    def random(self) -> float: ...


class RtpSession:
    """Our side of one RTP stream: identity, sequence, timestamp, and RTCP; see the module."""

    def __init__(self, entropy: Entropy, clock_rate: int = 8000) -> None:
        self.entropy = entropy
        self.ssrc = entropy.getrandbits(32)
        self.sequence = entropy.getrandbits(16)  # of the last packet sent
        self.timestamp = entropy.getrandbits(32)  # of the next tick
        self.cname = f"callgate-{self.ssrc:08x}@callgate"
        self.rtcp_interval = DEFAULT_RTCP_INTERVAL
        self.quality = CallQuality(clock_rate)
        self.receiver = ReceiverStats(clock_rate)
        self.remote_ssrc: int | None = None  # the SSRC the peer's audio came from, last
        self.last_sr: tuple[int, float] | None = None  # (LSR, when) of the peer's last SR
        self._ticks = 0
        self._next_report = self.rtcp_interval

    def new_ssrc(self) -> None:
        """Draw another SSRC (before the stream has sent anything)."""
        self.ssrc = self.entropy.getrandbits(32)
        self.cname = f"callgate-{self.ssrc:08x}@callgate"

    def next_sequence(self) -> int:
        self.sequence = (self.sequence + 1) & 0xFFFF
        return self.sequence

    def tick(self) -> bool:
        """A tick of the media clock: whether an RTCP report is due now."""
        self._ticks += 1
        if self._ticks == 1:
            self._next_report = max(1, self.rtcp_interval // 2)  # 6.2: the first report comes sooner
        if self._ticks < self._next_report:
            return False
        self._next_report = self._ticks + max(1, int(self.rtcp_interval * (0.5 + self.entropy.random())))
        return True

    def next_timestamp(self, samples: int) -> int:
        """The timestamp of this tick's frame; the next tick's is `samples` later."""
        ts = self.timestamp
        self.timestamp = (ts + samples) & 0xFFFFFFFF
        return ts

    def report(
        self, wall: float, now: float, packets_sent: int, octets_sent: int, *, bye: bool = False
    ) -> bytes:
        """Our RTCP compound packet at `wall` (Unix time) and `now` (monotonic)."""
        blocks = []
        if self.remote_ssrc is not None:
            try:
                block = self.receiver.report_block(self.remote_ssrc, now, self.last_sr)
            except ValueError:
                pass  # the peer's stream is still on probation (A.1): nothing to report yet
            else:
                blocks.append(block)
                self.quality.add_report(block)  # our view of what we receive: jitter and loss
        report: SenderReport | ReceiverReport
        if packets_sent:
            # RFC 3550 6.4.1: counts since this SSRC began, 32 bits, payload octets only.
            sent, octets = packets_sent & 0xFFFFFFFF, octets_sent & 0xFFFFFFFF
            report = SenderReport(self.ssrc, ntp_from_unix(wall), self.timestamp, sent, octets, tuple(blocks))
        else:
            report = ReceiverReport(self.ssrc, tuple(blocks))
        packets: list[SenderReport | ReceiverReport | SourceDescription | Goodbye] = [
            report,
            SourceDescription.for_cname(self.ssrc, self.cname),
        ]
        if bye:
            packets.append(Goodbye((self.ssrc,)))
        return serialize_compound(packets)

    def report_received(self, data: bytes, wall: float, now: float) -> None:
        """The peer's RTCP compound packet, arrived at `wall` and `now`; raises `PacketError`."""
        packets = parse_compound(data)
        arrival = middle_32(ntp_from_unix(wall))
        for packet in packets:
            if isinstance(packet, SenderReport):
                self.last_sr = (middle_32(packet.ntp_timestamp), now)
            if isinstance(packet, SenderReport | ReceiverReport):
                for block in packet.reports:
                    if block.ssrc == self.ssrc:
                        rtt = round_trip_time(block, arrival)
                        if rtt is not None:
                            self.quality.add_rtt(rtt)
