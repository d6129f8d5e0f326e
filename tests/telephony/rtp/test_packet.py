"""RTP packets: golden bytes both ways (vectors/rtp), the optional parts, the exact errors, sequence
arithmetic."""

import random

import pytest

from callgate.telephony.rtp.errors import PacketError
from callgate.telephony.rtp.packet import RtpPacket, header, seq_distance, seq_newer
from tests.fuzz import Mutator
from tests.telephony.rtp.golden import bad, good, vector

GOLDEN = vector("rtp/good/pcmu_marker.bin")  # M=1, PT=0, seq 0x1234, ts 160, ssrc 0xDEADBEEF, 4 bytes PCMU


@pytest.mark.parametrize("data", good("rtp"))
def test_good_vectors_round_trip(data):
    assert RtpPacket.parse(data).serialize() == data


@pytest.mark.parametrize(("data", "reason"), bad("rtp"))
def test_bad_vectors_give_the_exact_reason(data, reason):
    with pytest.raises(PacketError) as info:
        RtpPacket.parse(data)
    assert info.value.reason == reason


def test_golden_packet_both_ways():
    packet = RtpPacket.parse(GOLDEN)
    assert packet == RtpPacket(payload_type=0, sequence=0x1234, timestamp=160, ssrc=0xDEADBEEF,
                               payload=b"\xff\xff\x7f\x7f", marker=True)  # fmt: skip
    assert packet.serialize() == GOLDEN
    assert header(0, 0x1234, 160, 0xDEADBEEF, marker=True) + b"\xff\xff\x7f\x7f" == GOLDEN


def test_csrcs_extension_and_padding_are_read_and_written():
    data = vector("rtp/good/csrcs_extension_padding.bin")  # PT 8, seq 1, ts 320, ssrc 1, P=1 X=1 CC=2
    packet = RtpPacket.parse(data)
    assert packet.csrcs == (2, 3) and packet.extension == (0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.payload == b"\xd5\xd5\xd5" and packet.padding == 3 and packet.payload_type == 8
    assert packet.serialize() == data


def test_sequence_arithmetic_across_the_wrap():
    assert seq_distance(65535, 0) == 1 and seq_distance(0, 65535) == -1
    assert seq_distance(100, 100) == 0 and seq_distance(65000, 464) == 1000
    assert seq_newer(65535, 2) and not seq_newer(2, 65535) and not seq_newer(7, 7)


# Bytes that steer the header: V=2 with P, X, CC bits; the one-byte extension profile; RTCP types.
mutate = Mutator([b"\x80", b"\xa0", b"\x90", b"\x8f", b"\xbe\xde", b"\xc8", b"\x00", b"\xff"], bit_flips=True)


def test_mutations_parse_or_fail_cleanly():
    rng = random.Random(1)
    seeds = [path.values[0] for path in good("rtp")] + [GOLDEN + bytes(160)]
    parsed = refused = 0
    for i in range(5000):
        data = mutate(rng, seeds[i % len(seeds)])
        try:
            packet = RtpPacket.parse(data)
        except PacketError as exc:
            assert exc.reason
            refused += 1
            continue
        parsed += 1
        assert RtpPacket.parse(packet.serialize()) == packet
    assert parsed > 1000 and refused > 1000  # both paths really ran
