"""Writes the RTP, RTCP and RFC 4733 golden vectors of this folder, annotated here field by field.

    .venv/bin/python tests/telephony/rtp/vectors/generate.py

`KIND/good/NAME.bin` is a packet (for RTCP a compound) that parses and serialises back to the same
bytes; `KIND/bad/NAME.bin` is refused with PacketError, its exact reason in `KIND/bad/NAME.txt`.
The files are committed; run this again only to change or add a vector.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# ---- RTP (RFC 3550 5.1) ---------------------------------------------------------------------------

RTP_GOOD = {
    # V=2, no padding/extension, CC=0 | M=1, PT=0 | seq 0x1234 | ts 0xA0 | ssrc 0xDEADBEEF | 4 bytes PCMU
    "pcmu_marker": h("80 80 1234 000000a0 deadbeef ff ff 7f 7f"),
    "csrcs_extension_padding": h(
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
    ),
}

RTP_BAD = {
    "short_header": (bytes(11), "RTP packet of 11 bytes is shorter than the 12-byte header"),
    "version_1": (h("40 00 0001 00000000 00000001"), "RTP version 1, expected 2"),
    "rtcp_payload_type": (
        h("80 c8 0001 00000000 00000001"),
        "payload type 72 is an RTCP packet type (RFC 5761)",
    ),
    "padding_count_0": (
        h("a0 00 0001 00000000 00000001 00"),
        "RTP padding count 0 does not fit the 1 bytes after the header",
    ),
    "padding_count_too_big": (
        h("a0 00 0001 00000000 00000001 05"),
        "RTP padding count 5 does not fit the 1 bytes after the header",
    ),
    "csrcs_beyond_the_end": (
        h("83 00 0001 00000000 00000001 00000002"),
        "RTP CSRC count 3 exceeds the packet",
    ),
    "extension_header_missing": (
        h("90 00 0001 00000000 00000001 bede"),
        "RTP extension bit set but no extension header follows",
    ),
    "extension_beyond_the_end": (
        h("90 00 0001 00000000 00000001 bede0002 00000000"),
        "RTP extension of 2 words exceeds the packet",
    ),
}

# ---- RTCP (RFC 3550 6) ----------------------------------------------------------------------------

BLOCK = h(
    "9abcdef0"  # SSRC of the source reported on
    "40fffffe"  # fraction lost 0x40 = 64/256 = 25%; cumulative lost 0xfffffe = -2 (signed 24-bit)
    "00010005"  # extended highest sequence number: 1 cycle, seq 5 = 65541
    "00000018"  # interarrival jitter 24
    "6f808000"  # LSR: the middle 32 bits of NTP
    "00054000"  # DLSR 0x54000 / 65536 = 5.25 s
)
SR = (
    h(
        "81c8000c"  # V=2 P=0 RC=1, PT=200 (SR), length 12: 13 words = 52 bytes
        "12345678"  # SSRC of the sender
        "e8fe6f80"  # NTP timestamp, seconds (2023-11-14 22:13:20 UTC) ...
        "80000000"  # ... and fraction (.5)
        "0001e240"  # RTP timestamp 123456
        "00000064"  # sender's packet count 100
        "00003e80"  # sender's octet count 16000
    )
    + BLOCK
)
RR = h(
    "81c90007"  # V=2 P=0 RC=1, PT=201 (RR), length 7: 32 bytes
    "9abcdef0"  # SSRC of the packet sender
    "12345678"  # SSRC reported on
    "0a000003"  # fraction lost 10/256, cumulative lost 3
    "0000ffff"  # extended highest sequence number 65535 (no wrap yet)
    "000000a0"  # jitter 160
    "00000000"  # LSR 0: no SR received yet
    "00000000"  # DLSR 0
)
SDES = h(
    "81ca0006"  # V=2 P=0 SC=1, PT=202 (SDES), length 6: 28 bytes
    "12345678"  # chunk 1: SSRC
    "010f"  # item CNAME (1), 15 bytes:
    "75736572403139322e302e322e3130"  # "user@192.0.2.10"
    "000000"  # end item (null) + 2 nulls to the 32-bit boundary (4 + 17 + 3 = 24)
)
BYE = h(
    "81cb0004"  # V=2 P=0 SC=1, PT=203 (BYE), length 4: 20 bytes
    "12345678"  # SSRC leaving
    "0a"  # reason length 10
    "63616c6c20656e646564"  # "call ended"
    "00"  # 1 + 10 + 1 = 12: padded to the word
)
SR_NO_BLOCKS = h(
    "80c80006"  # V=2 P=0 RC=0, PT=200, length 6: 28 bytes
    "12345678"  # SSRC
    "e8fe6f8080000000"  # NTP timestamp
    "0001e240"  # RTP timestamp 123456
    "00000064"  # 100 packets
    "00003e80"  # 16000 octets
)
PLI = h(
    "81ce0002"  # V=2 P=0 FMT=1 (PLI), PT=206 (PSFB, RFC 4585), length 2: 12 bytes
    "9abcdef0"  # SSRC of the packet sender
    "12345678"  # SSRC of the media source
)
APP = h(
    "80cc0003"  # V=2 P=0 subtype 0, PT=204 (APP), length 3: 16 bytes
    "9abcdef0"  # SSRC
    "6e616d65"  # name "name"
    "deadbeef"  # application data
)
RR_EMPTY = h("80c90001 9abcdef0")  # RC=0, length 1: just the SSRC
COMPOUND = SR_NO_BLOCKS + SDES  # the usual shape: a report, then a CNAME

RTCP_GOOD = {
    "sr": SR,
    "rr": RR,
    "sdes_cname": SDES,
    "bye_reason": BYE,
    "sr_no_blocks": SR_NO_BLOCKS,
    "compound_sr_sdes": COMPOUND,
    "pli": PLI,
    "app": APP,
    "rr_empty": RR_EMPTY,
    "unknown_between_known": RR_EMPTY + PLI + APP + BYE,
    "rr_padding_zeros": h(
        "a0c90002"  # V=2 P=1 RC=0, PT=201, length 2: 12 bytes
        "9abcdef0"  # SSRC
        "00000004"  # 4 padding octets, the last counting them
    ),
    "rr_padding_filler": h(
        "a0c90003"  # P=1, length 3: 16 bytes
        "9abcdef0"  # SSRC
        "aabbccdd"  # padding octets need not be zero ...
        "eeff0008"  # ... only the count (8) at the end matters
    ),
    "rr_extension": h(
        "80c90002"  # RC=0, length 2
        "9abcdef0"  # SSRC
        "cafef00d"  # one word of profile-specific extension
    ),
    "sdes_two_chunks": h(
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
    ),
    "bye_two_sources": h("82cb0002 00000001 00000002"),  # SC=2, length 2: two SSRCs, no reason
    "bye_empty_reason": h("81cb0002 00000001 00000000"),  # a reason of length 0, padded to the word
    "bye_no_sources": h("80cb0000"),
    "bye_utf8_reason": h(
        "81cb0003"  # SC=1, length 3: 16 bytes
        "00000001"  # SSRC
        "06616469c3b373"  # "adiós": 6 bytes in UTF-8 (ó is c3 b3)
        "00"  # 1 + 6 + 1 = 8
    ),
}

RTCP_BAD = {
    "empty": (b"", "empty RTCP packet"),
    "short_header": (h("81c800"), "RTCP header at offset 0 needs 4 bytes, 3 received"),
    "short_second_header": (COMPOUND + h("8000"), "RTCP header at offset 56 needs 4 bytes, 2 received"),
    "version_1": (h("41c90001 9abcdef0"), "RTCP version 1 at offset 0, expected 2"),
    "second_version_0": (RR_EMPTY + h("01c90001 9abcdef0"), "RTCP version 0 at offset 8, expected 2"),
    "packet_type_0": (h("80000001 00000000"), "packet type 0 at offset 0 is not RTCP (192-223, RFC 5761 4)"),
    "length_beyond_the_end": (
        RR[:20],
        "RTCP length field 7 (32 bytes) at offset 0 exceeds the 20 bytes received",
    ),
    "rr_blocks_beyond_the_end": (
        h("82") + RR[1:],
        "RR with 2 report blocks needs 52 bytes after its header, the packet has 28",
    ),
    "sr_blocks_beyond_the_end": (
        h("82") + SR[1:],
        "SR with 2 report blocks needs 72 bytes after its header, the packet has 48",
    ),
    "sr_too_short": (
        h("80c80001 12345678"),
        "SR with 0 report blocks needs 24 bytes after its header, the packet has 4",
    ),
    "padding_without_body": (h("a0c90000"), "RTCP padding bit set at offset 0 on a packet with no body"),
    "padding_count_0": (
        h("a0c90002 9abcdef0 00000000"),
        "RTCP padding count 0 at offset 0 is not a positive multiple of 4",
    ),
    "padding_count_3": (
        h("a0c90002 9abcdef0 00000003"),
        "RTCP padding count 3 at offset 0 is not a positive multiple of 4",
    ),
    "padding_count_too_big": (
        h("a0c90002 9abcdef0 0000000c"),
        "RTCP padding count 12 at offset 0 exceeds the 8 bytes after the header",
    ),
    # The padding eats the SSRC: what is left is too short for an RR.
    "padding_eats_the_ssrc": (
        h("a0c90001 00000004"),
        "RR with 0 report blocks needs 4 bytes after its header, the packet has 0",
    ),
    "sdes_chunks_beyond_the_end": (
        h("82") + SDES[1:],
        "SDES source count 2 exceeds the 1 chunks the packet holds",
    ),
    "sdes_no_end_item": (h("81ca0002 12345678 01026162"), "SDES chunk for SSRC 0x12345678 has no end item"),
    "sdes_no_length_octet": (
        h("81ca0002 12345678 01016101"),
        "SDES item type 1 for SSRC 0x12345678 has no length octet",
    ),
    "sdes_item_beyond_the_end": (
        h("81ca0002 12345678 010a6162"),
        "SDES item type 1 for SSRC 0x12345678 claims 10 bytes, 2 remain",
    ),
    "sdes_bytes_after_end_item": (
        h("81ca0002 12345678 00000001"),
        "SDES chunk for SSRC 0x12345678 has non-zero bytes after its end item",
    ),
    "sdes_bytes_after_chunks": (
        h("81ca0003 12345678 00000000 00000000"),
        "SDES has 4 bytes after its 1 chunks",
    ),
    "bye_sources_beyond_the_end": (
        h("82cb0001 12345678"),
        "BYE with 2 sources needs 8 bytes after its header, the packet has 4",
    ),
    "bye_reason_beyond_the_end": (h("81cb0002 12345678 0a636161"), "BYE reason claims 10 bytes, 3 remain"),
    "bye_bytes_after_reason": (h("81cb0003 12345678 01610000 00000000"), "BYE has 4 bytes after its reason"),
    "bye_reason_nonzero_padding": (
        h("81cb0002 12345678 01610001"),
        "BYE reason is followed by non-zero bytes",
    ),
    "bye_reason_not_utf8": (h("81cb0002 12345678 02c32800"), "BYE reason is not UTF-8 (byte 0)"),
}

# ---- RFC 4733 telephone-event payloads (2.3) ------------------------------------------------------

DTMF_GOOD = {
    "hash_end": h("0b8a0320"),  # event 11 (#), E=1, volume 10, duration 800 (100 ms at 8 kHz)
    "d": h("0f0a00a0"),  # event 15 (D), volume 10, duration 160
    "flash": h("100a00a0"),  # event 16: flash, not a digit
}

DTMF_BAD = {
    "short": (h("010203"), "telephone-event payload of 3 bytes, expected 4"),
}


def write(kind: str, good: dict[str, bytes], bad: dict[str, tuple[bytes, str]]) -> None:
    for folder in ("good", "bad"):
        (HERE / kind / folder).mkdir(parents=True, exist_ok=True)
        for old in (HERE / kind / folder).iterdir():
            old.unlink()
    for name, data in good.items():
        (HERE / kind / "good" / f"{name}.bin").write_bytes(data)
    for name, (data, reason) in bad.items():
        (HERE / kind / "bad" / f"{name}.bin").write_bytes(data)
        (HERE / kind / "bad" / f"{name}.txt").write_text(reason + "\n")


if __name__ == "__main__":
    write("rtp", RTP_GOOD, RTP_BAD)
    write("rtcp", RTCP_GOOD, RTCP_BAD)
    write("dtmf", DTMF_GOOD, DTMF_BAD)
