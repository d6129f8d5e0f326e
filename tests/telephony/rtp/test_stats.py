"""Reception statistics against hand-computed values (RFC 3550 A.1, A.3, A.8), RTT from LSR/DLSR,
and the G.711 E-model score. Time is plain floats: there is no clock to fake."""

from __future__ import annotations

from itertools import pairwise

import pytest

from callgate.telephony.rtp.rtcp import (
    ReceiverReport,
    ReportBlock,
    SenderReport,
    middle_32,
    ntp_from_unix,
    parse_compound,
)
from callgate.telephony.rtp.stats import (
    CallQuality,
    ReceiverStats,
    SenderStats,
    delay_impairment,
    loss_impairment,
    mos_from_r,
    r_factor,
    round_trip_time,
)

CLOCK = 8000  # G.711: 8 kHz, 20 ms = 160 timestamp units a packet
T0 = (1 << 32) - 320  # timestamps wrap two packets in, too


def ts(index: int) -> int:
    """The RTP timestamp of the index-th packet sent (one every 20 ms)."""
    return (T0 + 160 * index) % (1 << 32)


# (sequence number, index in send order, arrival in seconds). Sent every 20 ms; seq 3 and 4 are lost,
# 0 arrives after 1, and 1 arrives 5 ms late.
WRAPPING_STREAM = [
    # probation: not counted, no jitter
    (65533, 0, 0.100),
    # ends probation: base_seq, received 1; primes the transit time
    (65534, 1, 0.120),
    # timestamp wraps to 0; D = 20 ms * 8 - 160 = 0: J = 0
    (65535, 2, 0.140),
    # seq wraps (cycle 1); D = 45 ms * 8 - 320 = 40: J = 0 + (40 - 0)/16 = 2.5
    (1, 4, 0.185),
    # late: counted, highest stays 1; D = 1 ms * 8 + 160 = 168: J = 2.5 + 165.5/16 = 12.84375
    (0, 3, 0.186),
    # D = 14 ms * 8 - 320 = -208, |D| = 208: J = 12.84375 + 195.15625/16 = 25.041015625
    (2, 5, 0.200),
    # 3 and 4 lost; D = 62 ms * 8 - 480 = 16: J = 25.041015625 - 9.041015625/16 = 24.4759521484375
    (5, 8, 0.262),
]


def feed(stats: ReceiverStats, packets) -> None:
    for seq, index, arrival in packets:
        stats.on_packet(seq, ts(index), arrival)


def test_wraparound_loss_and_reorder_give_the_hand_computed_report():
    stats = ReceiverStats(CLOCK)
    feed(stats, WRAPPING_STREAM)
    assert stats.valid and stats.base_seq == 65534
    assert stats.extended_highest_seq == 65541  # 1 << 16 | 5
    assert stats.cycles == 1
    # Expected: 65534, 65535, 0, 1, 2, 3, 4, 5 = 65541 - 65534 + 1 = 8; received 6; lost 2.
    assert (stats.expected, stats.received, stats.cumulative_lost) == (8, 6, 2)
    assert stats.jitter == pytest.approx(24.4759521484375)
    block = stats.report_block(0x12345678, now=0.3, last_sr=(0x6F808000, 0.1))
    assert block == ReportBlock(
        ssrc=0x12345678,
        fraction_lost=64,  # (2 << 8) // 8: a quarter of the interval lost
        cumulative_lost=2,
        highest_seq=65541,
        jitter=24,  # int(24.4759...)
        lsr=0x6F808000,
        dlsr=13107,  # 0.2 s * 65536 = 13107.2
    )

    # Next interval: 6..9 on time except seq 7 twice, the copy 1 ms late (arrival, timestamp index):
    feed(
        stats,
        [
            # D = 18 ms * 8 - 160 = -16: J = 24.4759521484375 - 8.4759521484375/16 = 23.946205139160156
            (6, 9, 0.280),
            # D = 0: J = 23.946205139160156 * 15/16 = 22.449567317962646
            (7, 10, 0.300),
            # the duplicate, D = 8: J = 22.449567317962646 - 14.449567317962646/16 = 21.546469360589981
            (7, 10, 0.301),
            # D = 19 ms * 8 - 160 = -8: J = 21.546469360589981 - 13.546469360589981/16 = 20.699815025553107
            (8, 11, 0.320),
            # D = 0: J = 20.699815025553107 * 15/16 = 19.406076586456038
            (9, 12, 0.340),
        ],
    )
    assert stats.jitter == pytest.approx(19.406076586456038)
    # Expected 4 more, received 5 (the duplicate counts): nothing lost in the interval, and the
    # duplicate offsets one of the earlier losses in the cumulative count.
    assert (stats.expected, stats.received, stats.cumulative_lost) == (12, 11, 1)
    assert stats.report_block(0x12345678, now=0.4, last_sr=None) == ReportBlock(
        0x12345678, 0, 1, 65545, 19, 0, 0
    )
    # An interval with no packets: nothing expected, nothing lost.
    assert stats.report_block(0x12345678, now=0.5, last_sr=None).fraction_lost == 0


def test_fraction_lost_is_per_interval_and_truncated():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(10, 0, 0.0), (11, 1, 0.02), (12, 2, 0.04), (15, 5, 0.1)])  # 13, 14 lost
    # Interval 1: expected 11..15 = 5, received 3: (2 << 8) // 5 = 102 (102.4 truncated).
    assert stats.report_block(1, 0.1, None).fraction_lost == 102
    feed(stats, [(16, 6, 0.12), (18, 8, 0.16), (19, 9, 0.18), (20, 10, 0.2), (21, 11, 0.22)])
    # Interval 2: expected 16..21 = 6, received 5: (1 << 8) // 6 = 42. Cumulative: 11 - 8 = 3.
    block = stats.report_block(1, 0.22, None)
    assert (block.fraction_lost, block.cumulative_lost) == (42, 3)


def test_a_new_source_is_on_probation_until_two_sequential_packets():
    stats = ReceiverStats(CLOCK)
    stats.on_packet(100, 0, 0.0)
    assert not stats.valid and stats.expected == 0 and stats.received == 0
    with pytest.raises(ValueError, match="probation"):
        stats.report_block(1, 0.0, None)
    stats.on_packet(101, 160, 0.02)
    assert stats.valid
    assert (stats.base_seq, stats.extended_highest_seq, stats.received, stats.expected) == (101, 101, 1, 1)


def test_probation_restarts_on_a_gap():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(100, 0, 0.0), (200, 100, 2.0)])  # not in sequence: probation starts over from 200
    assert not stats.valid
    stats.on_packet(201, ts(101), 2.02)
    assert stats.valid and (stats.base_seq, stats.received) == (201, 1)


def test_probation_across_the_wrap():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(65535, 0, 0.0), (0, 1, 0.02)])  # 65535 -> 0 is in sequence
    assert stats.valid and (stats.base_seq, stats.cycles, stats.extended_highest_seq) == (0, 0, 0)


def test_a_big_jump_followed_by_its_successor_restarts_the_statistics():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(10, 0, 0.0), (11, 1, 0.02), (12, 2, 0.04), (14, 4, 0.08)])  # 13 lost
    assert (stats.received, stats.cumulative_lost) == (3, 1)
    stats.on_packet(5000, 12345, 0.1)  # 4986 ahead: more than MAX_DROPOUT, held as suspect
    assert (stats.extended_highest_seq, stats.received) == (14, 3)
    stats.on_packet(5001, 12505, 0.12)  # its successor: the sender restarted, start over from here
    assert (stats.base_seq, stats.extended_highest_seq) == (5001, 5001)
    assert (stats.received, stats.cumulative_lost) == (1, 0)
    # The new timestamps (12345, 12505, ...) are not compared with the old ones: no jitter spike.
    stats.on_packet(5002, 12665, 0.14)
    assert stats.jitter < 1e-9
    assert stats.report_block(1, 0.14, None) == ReportBlock(1, 0, 0, 5002, 0, 0, 0)


def test_a_stray_jump_is_dropped_and_the_stream_carries_on():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(10, 0, 0.0), (11, 1, 0.02), (12, 2, 0.04)])
    stats.on_packet(40000, 999, 0.05)
    stats.on_packet(13, ts(3), 0.06)
    assert (stats.extended_highest_seq, stats.received, stats.cumulative_lost) == (13, 3, 0)


def test_dropout_and_misorder_limits():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(1000, 0, 0.0), (1001, 1, 0.02)])
    stats.on_packet(1001 + 2999, 0, 0.04)  # udelta 2999 < MAX_DROPOUT: a forward step over a gap
    assert stats.extended_highest_seq == 4000
    stats.on_packet(4000 + 3000, 0, 0.06)  # udelta 3000: a jump, not counted
    assert (stats.extended_highest_seq, stats.received) == (4000, 2)
    stats.on_packet(4000 - 100, 0, 0.08)  # 100 behind (udelta 65436): a jump too, not counted
    assert stats.received == 2
    stats.on_packet(4000 - 99, 0, 0.1)  # 99 behind: late but counted
    assert (stats.extended_highest_seq, stats.received) == (4000, 3)


def test_lsr_and_dlsr():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(1, 0, 0.0), (2, 1, 0.02)])
    block = stats.report_block(7, now=15.25, last_sr=(0xB7052000, 10.0))
    assert (block.lsr, block.dlsr) == (0xB7052000, 344064)  # 5.25 s * 65536 = 0x54000
    # A report "before" the SR arrived (clock confusion) never has a negative delay.
    assert stats.report_block(7, now=9.0, last_sr=(0xB7052000, 10.0)).dlsr == 0


def test_cumulative_lost_clamps_to_24_bits():
    stats = ReceiverStats(CLOCK)
    feed(stats, [(0, 0, 0.0), (1, 1, 0.0)])  # base 1
    # Walk forward in 2999 steps, one packet each, until far more than 2**23 packets are missing.
    seq = 1
    for step in range(3000):
        seq = (seq + 2999) % 65536
        stats.on_packet(seq, 0, step * 0.01)
    assert stats.cumulative_lost == 3000 * 2998  # 8_994_000 > 0x7fffff
    assert stats.report_block(1, 30.0, None).cumulative_lost == 0x7F_FFFF
    # Duplicates push it below zero: 2 packets expected, far more received.
    dupes = ReceiverStats(CLOCK)
    feed(dupes, [(0, 0, 0.0), (1, 1, 0.0), (2, 2, 0.0)] + [(2, 2, 0.0)] * 5)
    assert dupes.report_block(1, 0.0, None).cumulative_lost == -5


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        ReceiverStats(0)
    stats = ReceiverStats(CLOCK)
    with pytest.raises(ValueError):
        stats.on_packet(65536, 0, 0.0)
    with pytest.raises(ValueError):
        stats.on_packet(0, 1 << 32, 0.0)


def test_sender_stats_count_payload_octets_and_wrap():
    sender = SenderStats()
    for size in (160, 160, 80):
        sender.on_packet(size)
    assert (sender.packet_count, sender.octet_count) == (3, 400)
    block = ReportBlock(0x9ABCDEF0, 0, 0, 100, 5, 0, 0)
    assert sender.sender_report(0x12345678, 0xE8FE6F80_80000000, 123456, [block]) == SenderReport(
        0x12345678, 0xE8FE6F80_80000000, 123456, 3, 400, (block,)
    )
    sender.octet_count = (1 << 32) - 100
    sender.on_packet(160)
    assert sender.octet_count == 60
    with pytest.raises(ValueError):
        sender.on_packet(-1)


def test_round_trip_time_from_lsr_and_dlsr():
    # SR stamped 46853.125 s (middle 32 bits 0xb7052000), held 5.25 s by the peer, report back at
    # 46864.5 s: 46864.5 - 46853.125 - 5.25 = 6.125 s.
    block = ReportBlock(1, 0, 0, 0, 0, lsr=0xB7052000, dlsr=0x00054000)
    assert round_trip_time(block, 0xB7108000) == 6.125
    # Across the wrap of the 16-bit seconds: A = 0.125, LSR = 65535.5, DLSR = 0.5 -> 0x2000 / 65536.
    assert round_trip_time(ReportBlock(1, 0, 0, 0, 0, 0xFFFF8000, 0x8000), 0x00002000) == 0.125
    assert round_trip_time(ReportBlock(1, 0, 0, 0, 0, 0, 0), 0x00002000) is None  # no SR yet
    assert round_trip_time(block, 0xB7108000 - 1) == pytest.approx(6.125 - 1 / 65536)
    assert round_trip_time(block, 0xB7052000) == 0.0  # "negative" (DLSR rounding): 0


def test_round_trip_through_real_packets():
    # We send an SR at 1000.0; the peer gets it at 1000.05 on its clock, answers 0.3 s later; the RR
    # reaches us at 1000.4 on ours. DLSR = round(0.3 * 65536) = 19661. A and LSR share their whole
    # seconds, so A - LSR is the top 16 bits of the 0.4 s fraction: round(0.4 * 2**32) >> 16 = 26214.
    # RTT = (26214 - 19661) / 65536, a hair under the true 0.1 s.
    sender = SenderStats()
    sender.on_packet(160)
    sr = sender.sender_report(0x1111, ntp_from_unix(1000.0), 8000)
    [received_sr] = parse_compound(sr.serialize())
    assert isinstance(received_sr, SenderReport)
    peer = ReceiverStats(CLOCK)
    feed(peer, [(1, 0, 1000.0), (2, 1, 1000.02)])
    block = peer.report_block(0x1111, 1000.35, (middle_32(received_sr.ntp_timestamp), 1000.05))
    assert block.dlsr == 19661
    [rr] = parse_compound(ReceiverReport(0x2222, (block,)).serialize())
    assert isinstance(rr, ReceiverReport)
    rtt = round_trip_time(rr.reports[0], middle_32(ntp_from_unix(1000.4)))
    assert rtt == 6553 / 65536 == 0.0999908447265625


def test_e_model_pieces():
    assert delay_impairment(10) == pytest.approx(0.24)
    assert delay_impairment(177.3) == pytest.approx(4.2552)  # the knee: 0.024 * 177.3
    assert delay_impairment(277.3) == pytest.approx(6.6552 + 11)  # + 0.11 * 100 beyond it
    assert loss_impairment(0) == 0
    assert loss_impairment(1) == pytest.approx(95 / 5.3)  # 95 * 1 / (1 + 4.3)
    assert r_factor(10, 0) == pytest.approx(92.96)
    assert mos_from_r(50) == pytest.approx(2.575)  # 1 + 1.75 + 50 * -10 * 50 * 7e-6
    assert mos_from_r(-5) == mos_from_r(0) == 1.0
    assert mos_from_r(3) == 1.0  # the cubic dips to 0.99: clamped
    assert mos_from_r(100) == mos_from_r(120) == 4.5


def test_call_quality_figures_and_mos():
    quality = CallQuality(CLOCK)
    assert (quality.rtt_min_ms, quality.rtt_max_ms, quality.rtt_avg_ms) == (None, None, None)
    assert quality.mos() == pytest.approx(mos_from_r(93.2))  # nothing measured: a perfect call
    for rtt in (0.010, 0.020, 0.030):
        quality.add_rtt(rtt)
    assert quality.rtt_min_ms == pytest.approx(10)
    assert quality.rtt_max_ms == pytest.approx(30)
    assert quality.rtt_avg_ms == pytest.approx(20)
    quality.add_report(ReportBlock(1, 0, 0, 100, 0, 0, 0))
    # G.711, 20 ms RTT, no jitter, no loss: d = 10 ms, Id = 0.24, R = 92.96,
    # MOS = 1 + 0.035 * 92.96 + 92.96 * 32.96 * 7.04 * 7e-6 = 4.404592027648.
    assert quality.mos() == pytest.approx(4.404592027648)
    assert round(quality.mos(), 2) == 4.40
    # 80 units at 8 kHz = 10 ms of jitter: the buffer adds 20 ms, d = 30 ms, Id = 0.72, R = 92.48,
    # MOS = 1 + 3.2368 + 92.48 * 32.48 * 7.52 * 7e-6 = 4.394917421056.
    quality.add_report(ReportBlock(1, 0, 0, 200, 160, 0, 0))
    assert quality.jitter_ms == pytest.approx(10)  # mean of 0 and 20 ms
    assert quality.jitter_max_ms == pytest.approx(20)
    assert quality.one_way_delay_ms == pytest.approx(30)
    assert quality.mos() == pytest.approx(4.394917421056)
    # Loss: fractions 0, 0 and 32/256 (12.5%) average 4.1666...%; the latest cumulative count stands.
    quality.add_report(ReportBlock(1, 32, 12, 300, 80, 0, 0))
    assert quality.loss_percent == pytest.approx(12.5 / 3)
    assert quality.packets_lost == 12
    quality.add_report(ReportBlock(1, 0, -3, 400, 80, 0, 0))
    assert quality.packets_lost == 0  # more duplicates than losses: nothing lost
    with pytest.raises(ValueError):
        quality.add_rtt(-0.1)
    with pytest.raises(ValueError):
        CallQuality(0)


def mos_for(rtt: float, loss_fraction: int) -> float:
    quality = CallQuality(CLOCK)
    quality.add_rtt(rtt)
    quality.add_report(ReportBlock(1, loss_fraction, 0, 0, 0, 0, 0))
    return quality.mos()


def test_mos_falls_monotonically_with_loss_and_delay():
    by_loss = [mos_for(0.020, fraction) for fraction in (0, 1, 3, 5, 13, 26, 51)]  # 0% .. 20%
    assert all(a > b for a, b in pairwise(by_loss))
    assert by_loss[-1] > 1.0
    by_delay = [mos_for(rtt, 0) for rtt in (0.0, 0.02, 0.1, 0.2, 0.35, 0.4, 0.6, 1.0)]
    assert all(a > b for a, b in pairwise(by_delay))
    # 1% loss without concealment at 20 ms RTT: Ie,eff = 95 / 5.3 = 17.92, R = 75.04, MOS = 3.8234.
    assert mos_from_r(r_factor(10, 1)) == pytest.approx(3.8233952762443586)


def test_telephone_events_count_as_received_and_give_no_jitter_sample():
    # Audio 0-4 every 20 ms, then three RFC 4733 packets (seq 5-7) carrying one event's timestamp,
    # then audio again at seq 8: nothing is lost, and the events do not disturb the jitter.
    stats, reference = ReceiverStats(CLOCK), ReceiverStats(CLOCK)
    for seq in range(5):
        stats.on_packet(seq, ts(seq), seq * 0.020)
        reference.on_packet(seq, ts(seq), seq * 0.020)
    for seq in range(5, 8):
        stats.on_event_packet(seq)
    stats.on_packet(8, ts(8), 8 * 0.020)
    assert stats.expected == stats.received == 8  # the first packet ends probation: seq 1..8
    assert stats.cumulative_lost == 0
    assert stats.jitter == pytest.approx(0, abs=1e-9) and reference.jitter == pytest.approx(0, abs=1e-9)
    # Without them, the same gap is three packets lost.
    reference.on_packet(8, ts(8), 8 * 0.020)
    assert reference.cumulative_lost == 3
