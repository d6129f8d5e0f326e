"""RTP reception and transmission statistics (RFC 3550 6.4, A.1, A.3, A.8) and a call-quality score.

`ReceiverStats` follows one incoming SSRC. Each packet's sequence number goes through the A.1
validation: a new source is on probation until MIN_SEQUENTIAL packets arrive in sequence; after that
a small forward step advances the highest sequence number (counting a cycle each time the 16-bit
number wraps), a small backward step is a late or duplicate packet, and a jump of more than
MAX_DROPOUT ahead or MAX_MISORDER behind is dropped, unless the very next packet continues from it,
in which case the sender is taken to have restarted and the statistics start over. Accepted packets
also feed the A.8 interarrival jitter: the change in transit time between consecutive arrivals, in
RTP timestamp units, smoothed with gain 1/16. `report_block` turns the state into an RFC 3550 report
block (A.3: expected, cumulative lost, fraction lost in the interval since the previous call).

`SenderStats` counts what we send, for SRs. `round_trip_time` reads the RTT out of a report block that
a peer sent back about our stream (6.4.1). `CallQuality` accumulates RTT samples and report blocks
over a call and scores it with the ITU-T G.107 E-model, simplified for G.711.

Nothing here reads a clock or a socket: arrival times (`float` seconds on any monotonic clock, the
same for every call on one object) and identifiers are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from callgate.telephony.rtp.rtcp import ReportBlock, SenderReport

# RFC 3550 A.1.
MIN_SEQUENTIAL = 2
MAX_DROPOUT = 3000
MAX_MISORDER = 100
RTP_SEQ_MOD = 1 << 16

_U32 = 0xFFFF_FFFF
_MAX_LOST = 0x7F_FFFF  # cumulative lost is a signed 24-bit field
_MIN_LOST = -0x80_0000


def _signed32(value: int) -> int:
    """A 32-bit difference read as signed: RTP timestamps wrap, so their steps are taken modulo 2**32."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


class ReceiverStats:
    """Reception statistics for one incoming SSRC (RFC 3550 A.1, A.3, A.8).

    Feed every packet of the source to `on_packet`; call `report_block` once per RTCP report. A
    source that is still on probation (`valid` is False) has nothing to report.
    """

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate {clock_rate} must be positive")
        self.clock_rate = clock_rate
        self._started = False
        self._probation = MIN_SEQUENTIAL
        self._max_seq = 0
        self._cycles = 0  # wraps, times RTP_SEQ_MOD (as in A.1): the high half of the extended number
        self._base_seq = 0
        self._bad_seq = RTP_SEQ_MOD + 1  # a value no sequence number can take
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last: tuple[float, int] | None = None  # arrival and RTP timestamp of the last accepted packet

    def _init_seq(self, seq: int) -> None:
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = RTP_SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        # A restarted sender picks a new random timestamp base: a transit difference across the
        # restart would be meaningless. The jitter estimate itself describes the path and is kept.
        self._last = None

    def _update_seq(self, seq: int) -> bool:
        """A.1's update_seq: whether the packet counts, moving the highest sequence number if it does."""
        udelta = (seq - self._max_seq) % RTP_SEQ_MOD
        if self._probation:
            # In sequence? (A.1 compares seq == max_seq + 1, which misses the step from 65535 to 0.)
            if seq == (self._max_seq + 1) % RTP_SEQ_MOD:
                self._probation -= 1
                self._max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self._received += 1
                    return True
            else:
                self._probation = MIN_SEQUENTIAL - 1
                self._max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            # In order, with a permissible gap.
            if seq < self._max_seq:
                self._cycles += RTP_SEQ_MOD  # wrapped
            self._max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # A very large jump: believe it only if the next packet follows on from it.
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) % RTP_SEQ_MOD
                return False
            self._init_seq(seq)  # two sequential packets: the sender restarted without telling us
        # else: a duplicate or a late (reordered) packet, counted but not moving max_seq.
        self._received += 1
        return True

    def _update_jitter(self, rtp_timestamp: int, arrival: float) -> None:
        if self._last is not None:
            last_arrival, last_timestamp = self._last
            # D = (Rj - Ri) - (Sj - Si): how much longer (or shorter) this packet took than the last.
            d = (arrival - last_arrival) * self.clock_rate - _signed32(rtp_timestamp - last_timestamp)
            self._jitter += (abs(d) - self._jitter) / 16
        self._last = (arrival, rtp_timestamp)

    def on_packet(self, seq: int, rtp_timestamp: int, arrival: float) -> None:
        """Account for one received packet: its 16-bit sequence number, RTP timestamp, arrival (s)."""
        last = self._last
        if last is not None and not self._probation and seq == (self._max_seq + 1) & 0xFFFF:
            # The common case, the next packet of a valid source (A.1 in order, A.8), without the calls:
            # this runs for every packet of every call.
            if seq == 0:
                self._cycles += RTP_SEQ_MOD
            self._max_seq = seq
            self._received += 1
            transit = ((rtp_timestamp - last[1] + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            d = (arrival - last[0]) * self.clock_rate - transit
            self._jitter += (abs(d) - self._jitter) / 16
            self._last = (arrival, rtp_timestamp & 0xFFFFFFFF)
            return
        if not 0 <= seq < RTP_SEQ_MOD:
            raise ValueError(f"sequence number {seq} is not 16-bit")
        if not 0 <= rtp_timestamp <= _U32:
            raise ValueError(f"RTP timestamp {rtp_timestamp} is not 32-bit")
        if not self._started:
            # A.1: a new source starts on probation, as if the packet before this one had been seen.
            self._started = True
            self._init_seq(seq)
            self._max_seq = (seq - 1) % RTP_SEQ_MOD
            self._probation = MIN_SEQUENTIAL
        if self._update_seq(seq):
            self._update_jitter(rtp_timestamp, arrival)

    def on_event_packet(self, seq: int) -> None:
        """Account for a packet that shares the stream's sequence numbers but whose timestamp does not
        follow the audio clock (an RFC 4733 telephone-event, 2.1): it counts as received, so the gap it
        would leave is not counted as loss, and gives no jitter sample (A.8 assumes media timing)."""
        if self._last is not None and not self._probation and seq == (self._max_seq + 1) & 0xFFFF:
            if seq == 0:
                self._cycles += RTP_SEQ_MOD
            self._max_seq = seq
            self._received += 1
            return
        if not 0 <= seq < RTP_SEQ_MOD:
            raise ValueError(f"sequence number {seq} is not 16-bit")
        if not self._started:
            self._started = True
            self._init_seq(seq)
            self._max_seq = (seq - 1) % RTP_SEQ_MOD
            self._probation = MIN_SEQUENTIAL
        self._update_seq(seq)

    @property
    def valid(self) -> bool:
        """Whether the source has passed probation (MIN_SEQUENTIAL packets in sequence)."""
        return self._started and self._probation == 0

    @property
    def cycles(self) -> int:
        """How many times the sequence number has wrapped from 65535 to 0 since the (re)start."""
        return self._cycles // RTP_SEQ_MOD

    @property
    def base_seq(self) -> int:
        """The first sequence number counted (the packet that ended probation, or the restart)."""
        return self._base_seq

    @property
    def extended_highest_seq(self) -> int:
        """The highest sequence number received, with the wrap count in the high 16 bits."""
        return self._cycles + self._max_seq

    @property
    def received(self) -> int:
        """Packets counted, duplicates and late ones included (so `cumulative_lost` may go negative)."""
        return self._received

    @property
    def expected(self) -> int:
        """Packets the sender has sent from `base_seq` to the highest sequence number (A.3)."""
        if not self.valid:
            return 0
        return self.extended_highest_seq - self._base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """expected - received, not clamped (the report block clamps it to 24 bits)."""
        return self.expected - self._received

    @property
    def jitter(self) -> float:
        """The interarrival jitter estimate in RTP timestamp units (A.8), before truncation."""
        return self._jitter

    def report_block(self, ssrc_of_sender: int, now: float, last_sr: tuple[int, float] | None) -> ReportBlock:
        """The report block about this source, and the start of a new reporting interval.

        `ssrc_of_sender` is the SSRC of the source these statistics are about. `last_sr` is the middle
        32 bits of the NTP timestamp of the last SR received from it and the local time (same clock as
        `now`) it arrived; it gives LSR and DLSR (in 1/65536 s), both 0 when no SR has come yet.
        Calling this resets the interval that `fraction_lost` covers. Raises ValueError while the
        source is still on probation.
        """
        if not self.valid:
            raise ValueError("source is still on probation (RFC 3550 A.1): nothing to report yet")
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            # Below 256: the highest sequence number only advances when a packet arrives, so
            # received_interval >= 1 whenever expected_interval >= 1. The min() is belt and braces.
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lost = max(_MIN_LOST, min(_MAX_LOST, expected - self._received))
        if last_sr is None:
            lsr = dlsr = 0
        else:
            lsr, received_at = last_sr
            dlsr = max(0, min(_U32, round((now - received_at) * 65536)))
        return ReportBlock(
            ssrc=ssrc_of_sender,
            fraction_lost=fraction,
            cumulative_lost=lost,
            highest_seq=self.extended_highest_seq & _U32,
            jitter=min(_U32, int(self._jitter)),
            lsr=lsr,
            dlsr=dlsr,
        )


class SenderStats:
    """What we have sent on one SSRC, for our SRs (RFC 3550 6.4.1).

    Both counts are 32-bit and wrap; `octet_count` counts payload octets only (no RTP header or
    padding), as the RFC specifies. A new SSRC starts a new SenderStats.
    """

    def __init__(self) -> None:
        self.packet_count = 0
        self.octet_count = 0

    def on_packet(self, payload_size: int) -> None:
        """Account for one sent RTP packet with `payload_size` payload octets."""
        if payload_size < 0:
            raise ValueError(f"payload size {payload_size} is negative")
        self.packet_count = (self.packet_count + 1) & _U32
        self.octet_count = (self.octet_count + payload_size) & _U32

    def sender_report(
        self, ssrc: int, ntp_timestamp: int, rtp_timestamp: int, reports: Iterable[ReportBlock] = ()
    ) -> SenderReport:
        """An SR with our counts; `ntp_timestamp` and `rtp_timestamp` must name the same instant."""
        return SenderReport(
            ssrc, ntp_timestamp, rtp_timestamp, self.packet_count, self.octet_count, tuple(reports)
        )


def round_trip_time(report_block: ReportBlock, arrival_ntp_middle32: int) -> float | None:
    """The round-trip time in seconds from a report block about our stream (RFC 3550 6.4.1).

    RTT = A - LSR - DLSR, all in 1/65536 s: A is the middle 32 bits of our NTP clock when the report
    arrived, LSR echoes the middle 32 bits of our last SR's timestamp, and DLSR is how long the peer
    held that SR. The arithmetic is modulo 2**32, so it survives the 16-bit seconds wrapping. None
    when LSR is 0 (the peer has not had an SR from us yet). A slightly negative result (rounding of
    DLSR) reads as 0.
    """
    if report_block.lsr == 0:
        return None
    units = _signed32(arrival_ntp_middle32 - report_block.lsr - report_block.dlsr)
    return max(0, units) / 65536


# ITU-T G.107 E-model, simplified for G.711 at the default values of every other parameter.
R_DEFAULT = 93.2  # Ro - Is with G.107's defaults: the R of a perfect call before delay and loss
G711_IE = 0.0  # equipment impairment of G.711 (ITU-T G.113 Appendix I)
G711_BPL = 4.3  # packet-loss robustness of G.711 without packet loss concealment (G.113 Appendix I)
BURST_R = 1.0  # burst ratio of random (independent) loss
DELAY_KNEE_MS = 177.3  # one-way delay above which conversation degrades quickly


def delay_impairment(one_way_ms: float) -> float:
    """Id, the impairment from one-way mouth-to-ear delay d in ms.

    G.107's Id (its talker-echo and absolute-delay terms at default echo loss) is well approximated by
    the piecewise-linear form Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3), H the unit step: it is
    the form most VoIP monitors use.
    """
    excess = one_way_ms - DELAY_KNEE_MS
    return 0.024 * one_way_ms + (0.11 * excess if excess > 0 else 0.0)


def loss_impairment(loss_percent: float, ie: float = G711_IE, bpl: float = G711_BPL) -> float:
    """Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl) (ITU-T G.107 7.8), Ppl in percent."""
    return ie + (95 - ie) * loss_percent / (loss_percent / BURST_R + bpl)


def r_factor(one_way_ms: float, loss_percent: float) -> float:
    """The E-model rating R = 93.2 - Id - Ie,eff for G.711 (ITU-T G.107, other impairments at default)."""
    return R_DEFAULT - delay_impairment(one_way_ms) - loss_impairment(loss_percent)


def mos_from_r(r: float) -> float:
    """The estimated mean opinion score (1 to 4.5) for a rating R (ITU-T G.107 Annex B).

    MOS = 1 + 0.035 R + R (R - 60) (100 - R) 7e-6 for 0 < R < 100; 1 at or below 0, 4.5 at or above
    100. The cubic dips just under 1 for R below about 6.5, hence the clamp.
    """
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return min(4.5, max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6))


class CallQuality:
    """Quality figures for one direction of one call, and an E-model MOS for G.711.

    Feed it RTT samples (seconds, e.g. from `round_trip_time`) and the report blocks describing the
    stream. The MOS takes the one-way delay as half the mean RTT plus a jitter-buffer allowance of
    `jitter_buffer_factor` times the mean jitter (an adaptive buffer holds about two jitters' worth),
    and the loss as the mean of the reported per-interval loss fractions (each RTCP interval weighs
    the same, which matches regular reporting).
    """

    def __init__(self, clock_rate: int, jitter_buffer_factor: float = 2.0) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate {clock_rate} must be positive")
        self.clock_rate = clock_rate
        self.jitter_buffer_factor = jitter_buffer_factor
        self._rtts: list[float] = []
        self._jitters_ms: list[float] = []
        self._fractions: list[int] = []
        self.packets_lost = 0

    def add_rtt(self, rtt: float) -> None:
        """One round-trip time sample, in seconds."""
        if rtt < 0:
            raise ValueError(f"round-trip time {rtt} is negative")
        self._rtts.append(rtt)

    def add_report(self, block: ReportBlock) -> None:
        """One report block about the stream: its jitter, loss fraction and cumulative loss."""
        self._jitters_ms.append(block.jitter * 1000 / self.clock_rate)
        self._fractions.append(block.fraction_lost)
        # Cumulative, so the latest replaces the rest; negative (more duplicates than losses) means none.
        self.packets_lost = max(0, block.cumulative_lost)

    @property
    def rtt_min_ms(self) -> float | None:
        return min(self._rtts) * 1000 if self._rtts else None

    @property
    def rtt_max_ms(self) -> float | None:
        return max(self._rtts) * 1000 if self._rtts else None

    @property
    def rtt_avg_ms(self) -> float | None:
        return sum(self._rtts) * 1000 / len(self._rtts) if self._rtts else None

    @property
    def jitter_ms(self) -> float:
        """The mean reported interarrival jitter, in milliseconds (0 before any report)."""
        return sum(self._jitters_ms) / len(self._jitters_ms) if self._jitters_ms else 0.0

    @property
    def jitter_max_ms(self) -> float:
        return max(self._jitters_ms, default=0.0)

    @property
    def loss_percent(self) -> float:
        """The mean reported loss fraction, in percent (0 before any report)."""
        return sum(self._fractions) * 100 / 256 / len(self._fractions) if self._fractions else 0.0

    @property
    def one_way_delay_ms(self) -> float:
        """Half the mean RTT (0 without samples) plus the jitter-buffer allowance."""
        return (self.rtt_avg_ms or 0.0) / 2 + self.jitter_buffer_factor * self.jitter_ms

    def r_factor(self) -> float:
        return r_factor(self.one_way_delay_ms, self.loss_percent)

    def mos(self) -> float:
        """The estimated MOS (1 to 4.5) of the call so far."""
        return mos_from_r(self.r_factor())
