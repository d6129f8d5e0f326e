"""RTCP packets: hand-written golden packets (vectors/rtcp, annotated in vectors/generate.py) parse to
exact fields and serialise to the exact bytes; malformed ones give the exact reason; thousands of
mutations parse (and round-trip) or are refused."""

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
from tests.telephony.rtp.golden import bad, good, vector

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

SR = vector("rtcp/good/sr.bin")  # RC=1: the sender's info, then BLOCK
RR = vector("rtcp/good/rr.bin")  # RC=1, from 0x9abcdef0 on 0x12345678
SDES = vector("rtcp/good/sdes_cname.bin")  # SC=1: CNAME "user@192.0.2.10" of 0x12345678
BYE = vector("rtcp/good/bye_reason.bin")  # SC=1: 0x12345678 leaves, "call ended"
SR_NO_BLOCKS = vector("rtcp/good/sr_no_blocks.bin")
COMPOUND = vector("rtcp/good/compound_sr_sdes.bin")  # the usual shape: a report, then a CNAME
PLI = vector("rtcp/good/pli.bin")  # PT=206 (PSFB, RFC 4585) FMT=1
APP = vector("rtcp/good/app.bin")  # PT=204, name "name"
RR_EMPTY = vector("rtcp/good/rr_empty.bin")  # RC=0, length 1: just the SSRC


@pytest.mark.parametrize("data", good("rtcp"))
def test_good_vectors_round_trip(data):
    packets = parse_compound(data)
    assert serialize_compound(packets) == data
    assert b"".join(packet.serialize() for packet in packets) == data


@pytest.mark.parametrize(("data", "reason"), bad("rtcp"))
def test_bad_vectors_give_the_exact_reason(data, reason):
    with pytest.raises(PacketError) as caught:
        parse_compound(data)
    assert caught.value.reason == reason


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
    data = vector("rtcp/good/unknown_between_known.bin")
    assert data == RR_EMPTY + PLI + APP + BYE
    rr, pli, app, bye = parse_compound(data)
    assert rr == ReceiverReport(0x9ABCDEF0)
    assert pli == UnknownRtcp(206, PLI) and pli.count == 1
    assert app == UnknownRtcp(PT_APP, APP) and app.count == 0
    assert bye == Goodbye((0x12345678,), "call ended")
    assert serialize_compound([rr, pli, app, bye]) == data


def test_padding_is_kept_exactly():
    zeros = vector("rtcp/good/rr_padding_zeros.bin")  # P=1: 4 padding octets, the last counting them
    [rr] = parse_compound(zeros)
    assert rr == ReceiverReport(0x9ABCDEF0, padding=bytes.fromhex("00000004"))
    assert rr.serialize() == zeros
    filler = vector("rtcp/good/rr_padding_filler.bin")  # P=1: padding octets need not be zero
    [rr] = parse_compound(filler)
    assert rr == ReceiverReport(0x9ABCDEF0, padding=bytes.fromhex("aabbccdd eeff0008"))
    assert rr.serialize() == filler


def test_report_extension_words_are_kept():
    data = vector("rtcp/good/rr_extension.bin")  # RC=0, one word of profile-specific extension
    [rr] = parse_compound(data)
    assert rr == ReceiverReport(0x9ABCDEF0, extension=bytes.fromhex("cafef00d"))
    assert rr.serialize() == data


def test_sdes_chunks_several_items_and_a_full_word_of_nulls():
    data = vector("rtcp/good/sdes_two_chunks.bin")  # the first chunk's end item is a whole word of nulls
    [sdes] = parse_compound(data)
    assert isinstance(sdes, SourceDescription)
    assert sdes.chunks == (
        SdesChunk(1, ((SDES_CNAME, b"ab"),)),
        SdesChunk(2, ((SDES_NAME, b"bob"), (SDES_TOOL, b"cg\x02\x01"), (SDES_PRIV, b"\x01xp"))),
    )
    assert sdes.chunks[1].cname is None and sdes.chunks[1].text(SDES_NAME) == "bob"
    assert sdes.serialize() == data


def test_goodbye_without_reason_with_empty_reason_and_with_no_sources():
    two = vector("rtcp/good/bye_two_sources.bin")  # SC=2, length 2: two SSRCs, no reason
    assert parse_compound(two) == [Goodbye((1, 2))]
    assert Goodbye((1, 2)).serialize() == two
    # A reason field of length 0, padded to the word: present but empty.
    empty = vector("rtcp/good/bye_empty_reason.bin")
    assert parse_compound(empty) == [Goodbye((1,), "")]
    assert Goodbye((1,), "").serialize() == empty
    assert parse_compound(vector("rtcp/good/bye_no_sources.bin")) == [Goodbye(())]
    utf8 = vector("rtcp/good/bye_utf8_reason.bin")  # "adiós": 6 bytes in UTF-8
    assert Goodbye((1,), "adiós").serialize() == utf8
    assert parse_compound(utf8) == [Goodbye((1,), "adiós")]


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
