"""RTP packets: golden bytes both ways, the optional parts, the exact errors, sequence arithmetic."""

import random

import pytest

from callgate.telephony.rtp.errors import PacketError
from callgate.telephony.rtp.packet import RtpPacket, header, seq_distance, seq_newer

# V=2, no padding/extension, CC=0 | M=1, PT=0 | seq 0x1234 | ts 0x000000A0 | ssrc 0xDEADBEEF | 4 bytes PCMU
GOLDEN = bytes.fromhex("80 80 1234 000000a0 deadbeef ff ff 7f 7f".replace(" ", ""))


def test_golden_packet_both_ways():
    packet = RtpPacket.parse(GOLDEN)
    assert packet == RtpPacket(payload_type=0, sequence=0x1234, timestamp=160, ssrc=0xDEADBEEF,
                               payload=b"\xff\xff\x7f\x7f", marker=True)  # fmt: skip
    assert packet.serialize() == GOLDEN
    assert header(0, 0x1234, 160, 0xDEADBEEF, marker=True) + b"\xff\xff\x7f\x7f" == GOLDEN


def test_csrcs_extension_and_padding_are_read_and_written():
    data = bytes.fromhex(
        "b2"  # V=2, P=1, X=1, CC=2
        "08"
        "0001"
        "00000140"
        "00000001"  # PT 8, seq 1, ts 320, ssrc 1
        "00000002"
        "00000003"  # two CSRCs
        "bede"
        "0001"
        "10ff0000"  # RFC 8285 one-byte extension block: 1 word
        "d5d5d5"  # payload
        "000003"  # 3 padding bytes, the last says 3
    )
    packet = RtpPacket.parse(data)
    assert packet.csrcs == (2, 3) and packet.extension == (0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.payload == b"\xd5\xd5\xd5" and packet.padding == 3 and packet.payload_type == 8
    assert packet.serialize() == data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes(11), "RTP packet of 11 bytes is shorter than the 12-byte header"),
        (bytes.fromhex("40" "00" "0001" "00000000" "00000001"), "RTP version 1, expected 2"),
        (bytes.fromhex("80" "c8" "0001" "00000000" "00000001"),
         "payload type 72 is an RTCP packet type (RFC 5761)"),
        (bytes.fromhex("a0" "00" "0001" "00000000" "00000001" "00"),
         "RTP padding count 0 does not fit the 1 bytes after the header"),
        (bytes.fromhex("a0" "00" "0001" "00000000" "00000001" "05"),
         "RTP padding count 5 does not fit the 1 bytes after the header"),
        (bytes.fromhex("83" "00" "0001" "00000000" "00000001" "00000002"),
         "RTP CSRC count 3 exceeds the packet"),
        (bytes.fromhex("90" "00" "0001" "00000000" "00000001" "bede"),
         "RTP extension bit set but no extension header follows"),
        (bytes.fromhex("90" "00" "0001" "00000000" "00000001" "bede0002" "00000000"),
         "RTP extension of 2 words exceeds the packet"),
    ],
)  # fmt: skip
def test_malformed_packets_say_why(data, reason):
    with pytest.raises(PacketError) as info:
        RtpPacket.parse(data)
    assert info.value.reason == reason


def test_sequence_arithmetic_across_the_wrap():
    assert seq_distance(65535, 0) == 1 and seq_distance(0, 65535) == -1
    assert seq_distance(100, 100) == 0 and seq_distance(65000, 464) == 1000
    assert seq_newer(65535, 2) and not seq_newer(2, 65535) and not seq_newer(7, 7)


def test_mutations_parse_or_fail_cleanly():
    rng = random.Random(1)
    base = bytearray(GOLDEN + bytes(160))
    for _ in range(5000):
        data = bytearray(base[: rng.randrange(0, len(base) + 1)])
        for _ in range(rng.randrange(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            packet = RtpPacket.parse(bytes(data))
        except PacketError:
            continue
        assert RtpPacket.parse(packet.serialize()) == packet
