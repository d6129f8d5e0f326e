"""One stream's RTP state with a fake random source and a fake time: SSRC, sequence, timestamp, RTCP."""

import random

import pytest

from callgate.telephony.rtp.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    SenderReport,
    middle_32,
    ntp_from_unix,
    parse_compound,
    serialize_compound,
)
from callgate.telephony.rtp.session import RtpSession


class FixedEntropy:
    """Draws from a list of bits and a list of fractions, in order."""

    def __init__(self, bits: list[int], fractions: list[float] | None = None) -> None:
        self.bits, self.fractions = list(bits), list(fractions or [])

    def getrandbits(self, k: int, /) -> int:
        value = self.bits.pop(0)
        assert 0 <= value < 2**k
        return value

    def random(self) -> float:
        return self.fractions.pop(0)


def test_identity_sequence_and_timestamp_are_drawn_from_the_source_and_wrap():
    session = RtpSession(FixedEntropy([0xCAFEF00D, 0xFFFF, 0xFFFFFF00, 0x12345678]))
    assert session.ssrc == 0xCAFEF00D and session.cname == "callgate-cafef00d@callgate"
    assert [session.next_sequence() for _ in range(2)] == [0, 1]
    assert [session.next_timestamp(160) for _ in range(3)] == [0xFFFFFF00, 0xFFFFFFA0 & 0xFFFFFFFF, 0x40]
    session.new_ssrc()
    assert session.ssrc == 0x12345678 and session.cname == "callgate-12345678@callgate"


def test_a_seeded_source_gives_the_same_stream_twice():
    a, b = RtpSession(random.Random(7)), RtpSession(random.Random(7))
    assert (a.ssrc, a.sequence, a.timestamp) == (b.ssrc, b.sequence, b.timestamp)


def test_reports_come_at_half_the_interval_first_then_randomised_around_it():
    session = RtpSession(FixedEntropy([1, 2, 3], [0.0, 0.999, 0.5, 0.25]))
    session.rtcp_interval = 100
    due = [tick for tick in range(1, 400) if session.tick()]
    # first at 50 (6.2: sooner), then 100 * (0.5 + fraction) ticks later: 50, 149, 100 (then 75)
    assert due == [50, 100, 249, 349]


def test_a_receiver_report_until_we_send_then_a_sender_report_at_the_wall_time_given():
    session = RtpSession(FixedEntropy([0xA, 0, 5000]))
    rr, sdes = parse_compound(session.report(wall=1_700_000_000.0, now=10.0, packets_sent=0, octets_sent=0))
    assert rr == ReceiverReport(0xA, ()) and sdes.cname(0xA) == session.cname  # type: ignore[union-attr]
    packets = parse_compound(session.report(1_700_000_000.5, 10.5, packets_sent=3, octets_sent=480, bye=True))
    sr = packets[0]
    assert isinstance(sr, SenderReport)
    assert (sr.ssrc, sr.ntp_timestamp, sr.rtp_timestamp) == (0xA, ntp_from_unix(1_700_000_000.5), 5000)
    assert (sr.packet_count, sr.octet_count) == (3, 480)
    assert packets[-1] == Goodbye((0xA,))


def test_the_peers_report_gives_the_round_trip_time_and_its_sender_report_the_lsr():
    session = RtpSession(FixedEntropy([0xA, 0, 0]))
    sent_at = 1_700_000_000.0
    lsr = middle_32(ntp_from_unix(sent_at))
    block = ReportBlock(0xA, 0, 0, 0, 0, lsr, dlsr=int(0.25 * 65536))  # the peer held our SR 250 ms
    peer_sr = SenderReport(0xB, ntp_from_unix(sent_at + 0.1), 0, 1, 160, (block,))
    session.report_received(serialize_compound([peer_sr]), wall=sent_at + 0.3, now=42.0)
    assert session.quality.rtt_avg_ms == pytest.approx(50, abs=0.1)  # 300 ms - 250 ms held
    assert session.last_sr == (middle_32(peer_sr.ntp_timestamp), 42.0)
