"""RTCP packets: hand-written golden packets parse to exact fields and serialise to the exact bytes;
malformed ones give the exact reason; thousands of mutations parse (and round-trip) or are refused."""

from __future__ import annotations

import random

import pytest

from callgate.telephony.rtp import rtcp
from callgate.telephony.rtp.errors import PacketError
from callgate.telephony.rtp.rtcp import (
    NTP_UNIX_OFFSET,
    PT_APP,
    SDES_CNAME,
    SDES_NAME,
    SDES_PRIV,
    SDES_TOOL,
    Goodbye,
    ReceiverReport,
    ReportBlock,
    SdesChunk,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    middle_32,
    ntp_from_unix,
    parse_compound,
    serialize_compound,
    unix_from_ntp,
)
from tests.fuzz import Mutator

# 2023-11-14 22:13:20.5 UTC: NTP seconds 1_700_000_000 + 2_208_988_800 = 0xe8fe6f80, fraction 0x80000000.
NTP = 0xE8FE6F80_80000000

BLOCK = bytes.fromhex(
    "9abcdef0"  # SSRC of the source reported on
    "40fffffe"  # fraction lost 0x40 = 64/256 = 25%; cumulative lost 0xfffffe = -2 (signed 24-bit)
    "00010005"  # extended highest sequence number: 1 cycle, seq 5 = 65541
    "00000018"  # interarrival jitter 24
    "6f808000"  # LSR: the middle 32 bits of NTP
    "00054000"  # DLSR 0x54000 / 65536 = 5.25 s
)
BLOCK_FIELDS = ReportBlock(0x9ABCDEF0, 64, -2, 65541, 24, 0x6F808000, 0x54000)

SR = (
    bytes.fromhex(
        "81c8000c"  # V=2 P=0 RC=1, PT=200 (SR), length 12: 13 words = 52 bytes
        "12345678"  # SSRC of the sender
        "e8fe6f80"  # NTP timestamp, seconds
        "80000000"  # NTP timestamp, fraction (.5)
        "0001e240"  # RTP timestamp 123456
        "00000064"  # sender's packet count 100
        "00003e80"  # sender's octet count 16000
    )
    + BLOCK
)

RR = bytes.fromhex(
    "81c90007"  # V=2 P=0 RC=1, PT=201 (RR), length 7: 32 bytes
    "9abcdef0"  # SSRC of the packet sender
    "12345678"  # SSRC reported on
    "0a000003"  # fraction lost 10/256, cumulative lost 3
    "0000ffff"  # extended highest sequence number 65535 (no wrap yet)
    "000000a0"  # jitter 160
    "00000000"  # LSR 0: no SR received yet
    "00000000"  # DLSR 0
)

SDES = bytes.fromhex(
    "81ca0006"  # V=2 P=0 SC=1, PT=202 (SDES), length 6: 28 bytes
    "12345678"  # chunk 1: SSRC
    "010f"  # item CNAME (1), 15 bytes:
    "75736572403139322e302e322e3130"  # "user@192.0.2.10"
    "000000"  # end item (null) + 2 nulls to the 32-bit boundary (4 + 17 + 3 = 24)
)

BYE = bytes.fromhex(
    "81cb0004"  # V=2 P=0 SC=1, PT=203 (BYE), length 4: 20 bytes
    "12345678"  # SSRC leaving
    "0a"  # reason length 10
    "63616c6c20656e646564"  # "call ended"
    "00"  # 1 + 10 + 1 = 12: padded to the word
)

SR_NO_BLOCKS = bytes.fromhex(
    "80c80006"  # V=2 P=0 RC=0, PT=200, length 6: 28 bytes
    "12345678"  # SSRC
    "e8fe6f8080000000"  # NTP timestamp
    "0001e240"  # RTP timestamp 123456
    "00000064"  # 100 packets
    "00003e80"  # 16000 octets
)
COMPOUND = SR_NO_BLOCKS + SDES  # the usual shape: a report, then a CNAME

PLI = bytes.fromhex(
    "81ce0002"  # V=2 P=0 FMT=1 (PLI), PT=206 (PSFB, RFC 4585), length 2: 12 bytes
    "9abcdef0"  # SSRC of the packet sender
    "12345678"  # SSRC of the media source
)
APP = bytes.fromhex(
    "80cc0003"  # V=2 P=0 subtype 0, PT=204 (APP), length 3: 16 bytes
    "9abcdef0"  # SSRC
    "6e616d65"  # name "name"
    "deadbeef"  # application data
)
RR_EMPTY = bytes.fromhex("80c90001 9abcdef0")  # RC=0, length 1: just the SSRC


def test_sender_report_with_one_block():
    [sr] = parse_compound(SR)
    assert sr == SenderReport(
        ssrc=0x12345678,
        ntp_timestamp=NTP,
        rtp_timestamp=123456,
        packet_count=100,
        octet_count=16000,
        reports=(BLOCK_FIELDS,),
    )
    assert sr.serialize() == SR
    assert BLOCK_FIELDS.serialize() == BLOCK


def test_receiver_report():
    [rr] = parse_compound(RR)
    assert rr == ReceiverReport(0x9ABCDEF0, (ReportBlock(0x12345678, 10, 3, 65535, 160, 0, 0),))
    assert rr.serialize() == RR


def test_source_description_cname():
    [sdes] = parse_compound(SDES)
    assert sdes == SourceDescription((SdesChunk(0x12345678, ((SDES_CNAME, b"user@192.0.2.10"),)),))
    assert isinstance(sdes, SourceDescription)
    assert sdes.cname(0x12345678) == "user@192.0.2.10"
    assert sdes.cname(0x9ABCDEF0) is None
    assert sdes.serialize() == SDES
    assert SourceDescription.for_cname(0x12345678, "user@192.0.2.10").serialize() == SDES


def test_goodbye_with_reason():
    [bye] = parse_compound(BYE)
    assert bye == Goodbye((0x12345678,), "call ended")
    assert bye.serialize() == BYE


def test_compound_sender_report_and_cname():
    packets = parse_compound(COMPOUND)
    assert packets == [
        SenderReport(0x12345678, NTP, 123456, 100, 16000),
        SourceDescription.for_cname(0x12345678, "user@192.0.2.10"),
    ]
    assert serialize_compound(packets) == COMPOUND


def test_unknown_types_are_kept_whole_between_known_ones():
    data = RR_EMPTY + PLI + APP + BYE
    rr, pli, app, bye = parse_compound(data)
    assert rr == ReceiverReport(0x9ABCDEF0)
    assert pli == UnknownRtcp(206, PLI) and pli.count == 1
    assert app == UnknownRtcp(PT_APP, APP) and app.count == 0
    assert bye == Goodbye((0x12345678,), "call ended")
    assert serialize_compound([rr, pli, app, bye]) == data


def test_padding_is_kept_exactly():
    zeros = bytes.fromhex(
        "a0c90002"  # V=2 P=1 RC=0, PT=201, length 2: 12 bytes
        "9abcdef0"  # SSRC
        "00000004"  # 4 padding octets, the last counting them
    )
    [rr] = parse_compound(zeros)
    assert rr == ReceiverReport(0x9ABCDEF0, padding=bytes.fromhex("00000004"))
    assert rr.serialize() == zeros
    filler = bytes.fromhex(
        "a0c90003"  # P=1, length 3: 16 bytes
        "9abcdef0"  # SSRC
        "aabbccdd"  # padding octets need not be zero ...
        "eeff0008"  # ... only the count (8) at the end matters
    )
    [rr] = parse_compound(filler)
    assert rr == ReceiverReport(0x9ABCDEF0, padding=bytes.fromhex("aabbccdd eeff0008"))
    assert rr.serialize() == filler


def test_report_extension_words_are_kept():
    data = bytes.fromhex(
        "80c90002"  # RC=0, length 2
        "9abcdef0"  # SSRC
        "cafef00d"  # one word of profile-specific extension
    )
    [rr] = parse_compound(data)
    assert rr == ReceiverReport(0x9ABCDEF0, extension=bytes.fromhex("cafef00d"))
    assert rr.serialize() == data


def test_sdes_chunks_several_items_and_a_full_word_of_nulls():
    data = bytes.fromhex(
        "82ca0009"  # SC=2, PT=202, length 9: 40 bytes
        "00000001"  # chunk 1: SSRC 1
        "01026162"  # CNAME "ab": ends on a word boundary ...
        "00000000"  # ... so the end item takes a whole word of nulls
        "00000002"  # chunk 2: SSRC 2
        "0203626f62"  # NAME "bob"
        "0604"  # TOOL, 4 bytes:
        "6367"  # "cg" ...
        "0201"  # ... (value bytes "cg\x02\x01")
        "0803"  # PRIV, 3 bytes:
        "017870"  # prefix length 1, prefix "x", value "p"
        "00000000"  # items 5 + 6 + 5 = 16 bytes, a whole number of words: 4 nulls (chunk 4 + 16 + 4)
    )
    [sdes] = parse_compound(data)
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks == (
        SdesChunk(1, ((SDES_CNAME, b"ab"),)),
        SdesChunk(2, ((SDES_NAME, b"bob"), (SDES_TOOL, b"cg\x02\x01"), (SDES_PRIV, b"\x01xp"))),
    )
    assert sdes.chunks[1].cname is None and sdes.chunks[1].text(SDES_NAME) == "bob"
    assert sdes.serialize() == data


def test_goodbye_without_reason_with_empty_reason_and_with_no_sources():
    two = bytes.fromhex("82cb0002 00000001 00000002")  # SC=2, length 2: two SSRCs, no reason
    assert parse_compound(two) == [Goodbye((1, 2))]
    assert Goodbye((1, 2)).serialize() == two
    # A reason field of length 0, padded to the word: present but empty.
    empty = bytes.fromhex("81cb0002 00000001 00000000")
    assert parse_compound(empty) == [Goodbye((1,), "")]
    assert Goodbye((1,), "").serialize() == empty
    assert parse_compound(bytes.fromhex("80cb0000")) == [Goodbye(())]
    utf8 = bytes.fromhex(
        "81cb0003"  # SC=1, length 3: 16 bytes
        "00000001"  # SSRC
        "06616469c3b373"  # "adiós": 6 bytes in UTF-8 (ó is c3 b3)
        "00"  # 1 + 6 + 1 = 8
    )
    assert Goodbye((1,), "adiós").serialize() == utf8
    assert parse_compound(utf8) == [Goodbye((1,), "adiós")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("", "empty RTCP packet"),
        ("81c800", "RTCP header at offset 0 needs 4 bytes, 3 received"),
        (COMPOUND.hex() + "8000", "RTCP header at offset 56 needs 4 bytes, 2 received"),
        ("41c90001 9abcdef0", "RTCP version 1 at offset 0, expected 2"),
        (RR_EMPTY.hex() + "01c90001 9abcdef0", "RTCP version 0 at offset 8, expected 2"),
        ("80000001 00000000", "packet type 0 at offset 0 is not RTCP (192-223, RFC 5761 4)"),
        (RR[:20].hex(), "RTCP length field 7 (32 bytes) at offset 0 exceeds the 20 bytes received"),
        ("82" + RR[1:].hex(), "RR with 2 report blocks needs 52 bytes after its header, the packet has 28"),
        ("82" + SR[1:].hex(), "SR with 2 report blocks needs 72 bytes after its header, the packet has 48"),
        ("80c80001 12345678", "SR with 0 report blocks needs 24 bytes after its header, the packet has 4"),
        ("a0c90000", "RTCP padding bit set at offset 0 on a packet with no body"),
        ("a0c90002 9abcdef0 00000000", "RTCP padding count 0 at offset 0 is not a positive multiple of 4"),
        ("a0c90002 9abcdef0 00000003", "RTCP padding count 3 at offset 0 is not a positive multiple of 4"),
        (
            "a0c90002 9abcdef0 0000000c",
            "RTCP padding count 12 at offset 0 exceeds the 8 bytes after the header",
        ),
        # The padding eats the SSRC: what is left is too short for an RR.
        ("a0c90001 00000004", "RR with 0 report blocks needs 4 bytes after its header, the packet has 0"),
        ("82" + SDES[1:].hex(), "SDES source count 2 exceeds the 1 chunks the packet holds"),
        ("81ca0002 12345678 01026162", "SDES chunk for SSRC 0x12345678 has no end item"),
        ("81ca0002 12345678 01016101", "SDES item type 1 for SSRC 0x12345678 has no length octet"),
        ("81ca0002 12345678 010a6162", "SDES item type 1 for SSRC 0x12345678 claims 10 bytes, 2 remain"),
        (
            "81ca0002 12345678 00000001",
            "SDES chunk for SSRC 0x12345678 has non-zero bytes after its end item",
        ),
        ("81ca0003 12345678 00000000 00000000", "SDES has 4 bytes after its 1 chunks"),
        ("82cb0001 12345678", "BYE with 2 sources needs 8 bytes after its header, the packet has 4"),
        ("81cb0002 12345678 0a636161", "BYE reason claims 10 bytes, 3 remain"),
        ("81cb0003 12345678 01610000 00000000", "BYE has 4 bytes after its reason"),
        ("81cb0002 12345678 01610001", "BYE reason is followed by non-zero bytes"),
        ("81cb0002 12345678 02c32800", "BYE reason is not UTF-8 (byte 0)"),
    ],
)
def test_malformed_packets_give_the_exact_reason(data, reason):
    with pytest.raises(PacketError) as caught:
        parse_compound(bytes.fromhex(data))
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "build",
    [
        lambda: ReportBlock(1, 256, 0, 0, 0, 0, 0),
        lambda: ReportBlock(1, 0, 0x80_0000, 0, 0, 0, 0),
        lambda: ReportBlock(1, 0, -0x80_0001, 0, 0, 0, 0),
        lambda: ReportBlock(1 << 32, 0, 0, 0, 0, 0, 0),
        lambda: SenderReport(1, 1 << 64, 0, 0, 0),
        lambda: SenderReport(1, 0, 0, 0, 0, (BLOCK_FIELDS,) * 32),
        lambda: ReceiverReport(1, extension=b"abc"),
        lambda: ReceiverReport(1, padding=b"\x00\x00\x00\x03"),
        lambda: ReceiverReport(1, padding=b"\x00\x00\x00\x08"),
        lambda: SdesChunk(1, ((0, b"x"),)),
        lambda: SdesChunk(1, ((SDES_CNAME, bytes(256)),)),
        lambda: SourceDescription((SdesChunk(1, ()),) * 32),
        lambda: Goodbye((1,), "x" * 256),
        lambda: Goodbye(tuple(range(32))),
        lambda: UnknownRtcp(205, PLI),
        lambda: UnknownRtcp(206, PLI[:8]),
    ],
)
def test_out_of_range_fields_are_refused_when_building(build):
    with pytest.raises(ValueError) as caught:
        build()
    assert not isinstance(caught.value, PacketError)  # a local bug, not a remote one


def test_building_refuses_what_the_wire_cannot_carry():
    with pytest.raises(ValueError, match="16-bit length field"):
        ReceiverReport(1, extension=bytes(4 * 0x10000)).serialize()
    assert ReceiverReport(1, extension=bytes(4 * 0xFFFE)).serialize()[2:4] == b"\xff\xff"
    with pytest.raises(ValueError, match="whole 32-bit words"):
        UnknownRtcp(206, PLI[:3])
    with pytest.raises(ValueError, match="length field"):
        UnknownRtcp(206, PLI + bytes(4))


def test_an_unexpected_internal_error_still_comes_out_as_packet_error(monkeypatch):
    def broken(*args: object) -> None:
        raise IndexError("index out of range")

    monkeypatch.setattr(rtcp, "_parse_one", broken)
    with pytest.raises(PacketError) as caught:
        parse_compound(RR)
    assert caught.value.reason == "malformed RTCP packet (index out of range)"


def test_cumulative_lost_is_signed_24_bit_both_ways():
    for lost, wire in ((0x7F_FFFF, "7fffff"), (-0x80_0000, "800000"), (-1, "ffffff"), (0, "000000")):
        block = ReportBlock(7, 1, lost, 0, 0, 0, 0)
        assert block.serialize()[4:8].hex() == "01" + wire
        [rr] = parse_compound(ReceiverReport(1, (block,)).serialize())
        assert isinstance(rr, ReceiverReport) and rr.reports == (block,)


def test_ntp_conversions():
    assert ntp_from_unix(1_700_000_000.5) == NTP
    assert unix_from_ntp(NTP) == 1_700_000_000.5
    assert ntp_from_unix(0.0) == NTP_UNIX_OFFSET << 32
    assert ntp_from_unix(0.25) == NTP_UNIX_OFFSET << 32 | 0x4000_0000
    # A fraction that rounds up to a whole second carries into the seconds.
    assert ntp_from_unix(1.0 - 2**-40) == (NTP_UNIX_OFFSET + 1) << 32
    # 2036-02-07 06:28:16 UTC: the seconds field wraps into era 1, and reads back as such.
    era1 = (1 << 32) - NTP_UNIX_OFFSET
    assert ntp_from_unix(era1 + 0.25) == 0x00000000_40000000
    assert unix_from_ntp(0x00000000_40000000) == era1 + 0.25
    assert middle_32(NTP) == 0x6F808000
    assert middle_32(0x0123_4567_89AB_CDEF) == 0x4567_89AB


SEED = serialize_compound(
    [
        SenderReport(0x12345678, NTP, 123456, 100, 16000, (BLOCK_FIELDS,)),
        SourceDescription(
            (
                SdesChunk(0x12345678, ((SDES_CNAME, b"user@192.0.2.10"), (SDES_NAME, b"Callgate"))),
                SdesChunk(0x0BADCAFE, ((SDES_CNAME, b"ab"),)),
            )
        ),
        UnknownRtcp(206, PLI),
        Goodbye((0x12345678, 0x0BADCAFE), "call ended", padding=bytes.fromhex("00000004")),
    ]
)
INTERESTING = [
    b"\x00",
    b"\xff",
    b"\x80",
    b"\xa0",
    b"\xc8",
    b"\xca",
    b"\xcb",
    b"\x00\x00\x00\x00",
    b"\x81\xcb",
]


mutate = Mutator(INTERESTING, max_edits=3, max_cut=12, max_copy=24, word=4, bit_flips=True)


def test_mutated_compounds_parse_and_round_trip_or_fail_cleanly():
    assert serialize_compound(parse_compound(SEED)) == SEED
    rng = random.Random(1)
    parsed = refused = 0
    for _ in range(3000):
        data = mutate(rng, SEED)
        try:
            packets = parse_compound(data)
        except PacketError as exc:
            assert exc.reason
            refused += 1
            continue
        parsed += 1
        assert serialize_compound(packets) == data  # whatever parses is kept exactly
    assert parsed > 100 and refused > 1000  # both paths really ran
