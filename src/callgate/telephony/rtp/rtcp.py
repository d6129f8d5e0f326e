"""RTCP (RFC 3550 6): sender and receiver reports, source descriptions, goodbyes, compound packets.

RTCP travels as compound packets: several RTCP packets back to back in one datagram, each starting
with the same 4-byte header (version 2, padding bit, a 5-bit count, the packet type, and a length in
32-bit words minus one). `parse_compound` walks that chain and turns each packet into a frozen value:
`SenderReport` (200), `ReceiverReport` (201), `SourceDescription` (202) and `Goodbye` (203). Any
other RTCP packet type (APP 204, the RFC 4585 feedback messages 205/206, XR 207, ...) is kept whole
as `UnknownRtcp`, so a caller can skip it or hand it to a specialised parser.

Parsing is strict and lossless: whatever parses serialises back to the very same bytes
(`serialize_compound(parse_compound(data)) == data`). Padding octets, SR/RR profile extensions and
the text of SDES items survive untouched; anything the RFC leaves no room for (non-zero bytes after
an SDES end item, bytes after a BYE reason, a padding count that is not a multiple of four) is
refused. Parsing untrusted bytes never raises anything but `PacketError`, whose reason says
precisely what is wrong and where.

The first packet of a compound is not required to be an SR or RR: RFC 5506 reduced-size RTCP sends
feedback on its own. Composing valid compounds (report first, then an SDES with a CNAME) is the
sender's job; `serialize_compound` only concatenates.

Building a packet with out-of-range fields raises `ValueError` at construction: that is a local bug,
not a remote one, so it is not a `PacketError`.

NTP timestamps (RFC 3550 4) are 64-bit fixed point: seconds since 1900 in the high 32 bits, the
fraction in the low 32. `ntp_from_unix` and `unix_from_ntp` convert; `middle_32` takes the 32 bits
that an SR's receivers echo back as LSR.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from callgate.telephony.rtp.errors import PacketError

VERSION = 2
PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204
# RFC 5761 4: with RTP and RTCP multiplexed on one port, RTCP packet types stay within 192-223 so that
# the second byte tells them apart from RTP. Anything else handed to the RTCP parser is not RTCP.
RTCP_TYPES = range(192, 224)

# SDES item types (RFC 3550 6.5). Type 0 ends a chunk's item list; it is never an item.
SDES_END = 0
SDES_CNAME = 1
SDES_NAME = 2
SDES_EMAIL = 3
SDES_PHONE = 4
SDES_LOC = 5
SDES_TOOL = 6
SDES_NOTE = 7
SDES_PRIV = 8

MAX_COUNT = 31  # the header's 5-bit report/source count
MAX_LENGTH_WORDS = 0xFFFF
# Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01): 70 years, 17 of them leap.
NTP_UNIX_OFFSET = 2_208_988_800

_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF
_HEADER = struct.Struct("!BBH")  # V/P/count, packet type, length
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP timestamp, RTP timestamp, packet count, octet count
_BLOCK = struct.Struct(
    "!IIIIII"
)  # SSRC, fraction lost << 24 | cumulative lost, highest seq, jitter, LSR, DLSR
_SSRC = struct.Struct("!I")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} {value} is outside {low}..{high}")


def _check_padding(padding: bytes) -> None:
    """Padding counts itself in its last octet and keeps the packet a whole number of words (6.4.1)."""
    if not padding:
        return
    if len(padding) % 4 or len(padding) > 252 or padding[-1] != len(padding):
        raise ValueError(
            f"padding must be 4-252 bytes, a multiple of 4, ending in its own length (got {padding.hex()})"
        )


def _check_reports(reports: tuple[ReportBlock, ...], extension: bytes) -> None:
    if len(reports) > MAX_COUNT:
        raise ValueError(f"{len(reports)} report blocks do not fit the 5-bit count (at most {MAX_COUNT})")
    if len(extension) % 4:
        raise ValueError(f"profile extension of {len(extension)} bytes is not a whole number of words")


def _frame(count: int, packet_type: int, body: bytes, padding: bytes) -> bytes:
    """Header + body + padding; `body` and `padding` are each a whole number of 32-bit words."""
    words = (len(body) + len(padding)) // 4  # total words minus the header's one
    if words > MAX_LENGTH_WORDS:
        raise ValueError(f"RTCP packet of {words + 1} words is longer than the 16-bit length field allows")
    first = VERSION << 6 | (0x20 if padding else 0) | count
    return _HEADER.pack(first, packet_type, words) + body + padding


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics for one source (RFC 3550 6.4.1), carried in SRs and RRs.

    `fraction_lost` is the fraction of packets lost since the previous report, in 1/256ths.
    `cumulative_lost` is signed (duplicates can make it negative) and 24 bits wide. `highest_seq` is
    the extended highest sequence number (wrap count in the high 16 bits). `jitter` is in RTP
    timestamp units. `lsr` is the middle 32 bits of the NTP timestamp of the last SR received from
    the source (0 if none), `dlsr` the delay since then in 1/65536 s.
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int

    def __post_init__(self) -> None:
        _check_range("SSRC", self.ssrc, 0, _U32)
        _check_range("fraction lost", self.fraction_lost, 0, 255)
        _check_range("cumulative lost", self.cumulative_lost, -0x80_0000, 0x7F_FFFF)
        _check_range("extended highest sequence number", self.highest_seq, 0, _U32)
        _check_range("jitter", self.jitter, 0, _U32)
        _check_range("LSR", self.lsr, 0, _U32)
        _check_range("DLSR", self.dlsr, 0, _U32)

    def serialize(self) -> bytes:
        lost = self.fraction_lost << 24 | (self.cumulative_lost & 0xFF_FFFF)
        return _BLOCK.pack(self.ssrc, lost, self.highest_seq, self.jitter, self.lsr, self.dlsr)


def _unpack_block(body: bytes, offset: int) -> ReportBlock:
    ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset)
    cumulative = lost & 0xFF_FFFF
    if cumulative & 0x80_0000:  # two's complement, 24 bits
        cumulative -= 0x100_0000
    return ReportBlock(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    """SR (RFC 3550 6.4.1): what an active sender has sent, stamped with wall clock and RTP time.

    `ntp_timestamp` and `rtp_timestamp` name the same instant, which lets receivers line the stream
    up with wall-clock time; `packet_count` and `octet_count` (payload octets only) run since the
    sender started with this SSRC. `extension` holds profile-specific words after the report blocks;
    `padding` the padding octets exactly as received (empty when the P bit is clear).
    """

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    def __post_init__(self) -> None:
        _check_range("SSRC", self.ssrc, 0, _U32)
        _check_range("NTP timestamp", self.ntp_timestamp, 0, _U64)
        _check_range("RTP timestamp", self.rtp_timestamp, 0, _U32)
        _check_range("packet count", self.packet_count, 0, _U32)
        _check_range("octet count", self.octet_count, 0, _U32)
        _check_reports(self.reports, self.extension)
        _check_padding(self.padding)

    def serialize(self) -> bytes:
        info = _SENDER_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        body = info + b"".join(r.serialize() for r in self.reports) + self.extension
        return _frame(len(self.reports), PT_SR, body, self.padding)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """RR (RFC 3550 6.4.2): reception statistics from a participant that is not sending media."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""
    padding: bytes = b""

    def __post_init__(self) -> None:
        _check_range("SSRC", self.ssrc, 0, _U32)
        _check_reports(self.reports, self.extension)
        _check_padding(self.padding)

    def serialize(self) -> bytes:
        body = _SSRC.pack(self.ssrc) + b"".join(r.serialize() for r in self.reports) + self.extension
        return _frame(len(self.reports), PT_RR, body, self.padding)


@dataclass(frozen=True, slots=True)
class SdesChunk:
    """One source's items in an SDES packet: (item type, value) pairs, in order, as sent.

    Values stay bytes because a PRIV item (type 8) carries a binary prefix length; the text items
    are UTF-8 by the RFC, and `text` decodes one of them.
    """

    ssrc: int
    items: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        _check_range("SSRC", self.ssrc, 0, _U32)
        for kind, value in self.items:
            _check_range("SDES item type", kind, 1, 255)
            _check_range("SDES item length", len(value), 0, 255)

    def text(self, kind: int) -> str | None:
        """The first item of type `kind`, decoded (undecodable bytes become U+FFFD), or None."""
        for item_kind, value in self.items:
            if item_kind == kind:
                return value.decode("utf-8", errors="replace")
        return None

    @property
    def cname(self) -> str | None:
        """The canonical name (RFC 3550 6.5.1): the stable identity of the endpoint behind the SSRC."""
        return self.text(SDES_CNAME)

    def serialize(self) -> bytes:
        items = b"".join(bytes((kind, len(value))) + value for kind, value in self.items)
        # The list ends with a null octet, then nulls up to the next 32-bit boundary: 1 to 4 in all.
        return _SSRC.pack(self.ssrc) + items + bytes(4 - len(items) % 4)


@dataclass(frozen=True, slots=True)
class SourceDescription:
    """SDES (RFC 3550 6.5): one chunk per source, each with at least a CNAME in practice."""

    chunks: tuple[SdesChunk, ...]
    padding: bytes = b""

    def __post_init__(self) -> None:
        if len(self.chunks) > MAX_COUNT:
            raise ValueError(
                f"{len(self.chunks)} SDES chunks do not fit the 5-bit count (at most {MAX_COUNT})"
            )
        _check_padding(self.padding)

    @classmethod
    def for_cname(cls, ssrc: int, cname: str) -> SourceDescription:
        """The SDES every compound packet carries: our SSRC and its CNAME."""
        return cls((SdesChunk(ssrc, ((SDES_CNAME, cname.encode("utf-8")),)),))

    def cname(self, ssrc: int) -> str | None:
        """The CNAME given for `ssrc`, or None."""
        for chunk in self.chunks:
            if chunk.ssrc == ssrc and (name := chunk.cname) is not None:
                return name
        return None

    def serialize(self) -> bytes:
        body = b"".join(chunk.serialize() for chunk in self.chunks)
        return _frame(len(self.chunks), PT_SDES, body, self.padding)


@dataclass(frozen=True, slots=True)
class Goodbye:
    """BYE (RFC 3550 6.6): these sources are leaving, optionally saying why (UTF-8, at most 255 bytes).

    `reason` is None when the packet has no reason field; "" when it has an empty one.
    """

    ssrcs: tuple[int, ...]
    reason: str | None = None
    padding: bytes = b""

    def __post_init__(self) -> None:
        if len(self.ssrcs) > MAX_COUNT:
            raise ValueError(
                f"{len(self.ssrcs)} BYE sources do not fit the 5-bit count (at most {MAX_COUNT})"
            )
        for ssrc in self.ssrcs:
            _check_range("SSRC", ssrc, 0, _U32)
        if self.reason is not None:
            _check_range("BYE reason length", len(self.reason.encode("utf-8")), 0, 255)
        _check_padding(self.padding)

    def serialize(self) -> bytes:
        body = b"".join(_SSRC.pack(ssrc) for ssrc in self.ssrcs)
        if self.reason is not None:
            text = self.reason.encode("utf-8")
            field = bytes((len(text),)) + text
            body += field + bytes(-len(field) % 4)
        return _frame(len(self.ssrcs), PT_BYE, body, self.padding)


@dataclass(frozen=True, slots=True)
class UnknownRtcp:
    """An RTCP packet of a type this module does not interpret (APP, feedback, XR, ...), kept whole.

    `raw` is the entire packet, header and padding included, so it serialises back unchanged.
    """

    packet_type: int
    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) < 4 or len(self.raw) % 4 or self.raw[0] >> 6 != VERSION:
            raise ValueError("raw RTCP packet must be whole 32-bit words starting with a version 2 header")
        if self.raw[1] != self.packet_type:
            raise ValueError(f"raw RTCP packet has type {self.raw[1]}, not {self.packet_type}")
        if (int.from_bytes(self.raw[2:4], "big") + 1) * 4 != len(self.raw):
            raise ValueError("raw RTCP packet's length field does not match its size")

    @property
    def count(self) -> int:
        """The header's 5-bit count field (its meaning, e.g. FMT for feedback, depends on the type)."""
        return self.raw[0] & 0x1F

    def serialize(self) -> bytes:
        return self.raw


RtcpPacket: TypeAlias = SenderReport | ReceiverReport | SourceDescription | Goodbye | UnknownRtcp


def _parse_sr(count: int, body: bytes, padding: bytes) -> SenderReport:
    need = _SENDER_INFO.size + count * _BLOCK.size
    if len(body) < need:
        raise PacketError(
            f"SR with {count} report blocks needs {need} bytes after its header, the packet has {len(body)}"
        )
    ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body, 0)
    reports = tuple(_unpack_block(body, _SENDER_INFO.size + i * _BLOCK.size) for i in range(count))
    return SenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, body[need:], padding)


def _parse_rr(count: int, body: bytes, padding: bytes) -> ReceiverReport:
    need = _SSRC.size + count * _BLOCK.size
    if len(body) < need:
        raise PacketError(
            f"RR with {count} report blocks needs {need} bytes after its header, the packet has {len(body)}"
        )
    (ssrc,) = _SSRC.unpack_from(body, 0)
    reports = tuple(_unpack_block(body, _SSRC.size + i * _BLOCK.size) for i in range(count))
    return ReceiverReport(ssrc, reports, body[need:], padding)


def _parse_sdes(count: int, body: bytes, padding: bytes) -> SourceDescription:
    chunks: list[SdesChunk] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise PacketError(f"SDES source count {count} exceeds the {len(chunks)} chunks the packet holds")
        (ssrc,) = _SSRC.unpack_from(body, pos)
        pos += 4
        items: list[tuple[int, bytes]] = []
        while True:
            if pos >= len(body):
                raise PacketError(f"SDES chunk for SSRC {ssrc:#010x} has no end item")
            kind = body[pos]
            if kind == SDES_END:
                break
            if pos + 2 > len(body):
                raise PacketError(f"SDES item type {kind} for SSRC {ssrc:#010x} has no length octet")
            size = body[pos + 1]
            if pos + 2 + size > len(body):
                raise PacketError(
                    f"SDES item type {kind} for SSRC {ssrc:#010x} claims {size} bytes, "
                    f"{len(body) - pos - 2} remain"
                )
            items.append((kind, body[pos + 2 : pos + 2 + size]))
            pos += 2 + size
        # The end item's null octet and the nulls padding the chunk to the next 32-bit boundary. The
        # body is whole words, so the boundary is always inside it.
        end = (pos // 4 + 1) * 4
        if any(body[pos:end]):
            raise PacketError(f"SDES chunk for SSRC {ssrc:#010x} has non-zero bytes after its end item")
        pos = end
        chunks.append(SdesChunk(ssrc, tuple(items)))
    if pos != len(body):
        raise PacketError(f"SDES has {len(body) - pos} bytes after its {count} chunks")
    return SourceDescription(tuple(chunks), padding)


def _parse_bye(count: int, body: bytes, padding: bytes) -> Goodbye:
    need = 4 * count
    if len(body) < need:
        raise PacketError(
            f"BYE with {count} sources needs {need} bytes after its header, the packet has {len(body)}"
        )
    ssrcs = tuple(_SSRC.unpack_from(body, 4 * i)[0] for i in range(count))
    rest = body[need:]
    reason: str | None = None
    if rest:
        size = rest[0]
        if 1 + size > len(rest):
            raise PacketError(f"BYE reason claims {size} bytes, {len(rest) - 1} remain")
        end = (1 + size + 3) // 4 * 4
        if len(rest) != end:
            raise PacketError(f"BYE has {len(rest) - end} bytes after its reason")
        if any(rest[1 + size :]):
            raise PacketError("BYE reason is followed by non-zero bytes")
        try:
            reason = rest[1 : 1 + size].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PacketError(f"BYE reason is not UTF-8 (byte {exc.start})") from None
    return Goodbye(ssrcs, reason, padding)


def _parse_one(packet_type: int, count: int, body: bytes, padding: bytes, raw: bytes) -> RtcpPacket:
    if packet_type == PT_SR:
        return _parse_sr(count, body, padding)
    if packet_type == PT_RR:
        return _parse_rr(count, body, padding)
    if packet_type == PT_SDES:
        return _parse_sdes(count, body, padding)
    if packet_type == PT_BYE:
        return _parse_bye(count, body, padding)
    return UnknownRtcp(packet_type, raw)


def _parse_compound(data: bytes) -> list[RtcpPacket]:
    if not data:
        raise PacketError("empty RTCP packet")
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        remaining = len(data) - offset
        if remaining < _HEADER.size:
            raise PacketError(f"RTCP header at offset {offset} needs 4 bytes, {remaining} received")
        first, packet_type, length = _HEADER.unpack_from(data, offset)
        version = first >> 6
        if version != VERSION:
            raise PacketError(f"RTCP version {version} at offset {offset}, expected 2")
        if packet_type not in RTCP_TYPES:
            raise PacketError(
                f"packet type {packet_type} at offset {offset} is not RTCP (192-223, RFC 5761 4)"
            )
        size = (length + 1) * 4
        if size > remaining:
            raise PacketError(
                f"RTCP length field {length} ({size} bytes) at offset {offset} "
                f"exceeds the {remaining} bytes received"
            )
        raw = data[offset : offset + size]
        body = raw[4:]
        padding = b""
        if first & 0x20:
            if not body:
                raise PacketError(f"RTCP padding bit set at offset {offset} on a packet with no body")
            count = body[-1]
            if count == 0 or count % 4:
                raise PacketError(
                    f"RTCP padding count {count} at offset {offset} is not a positive multiple of 4"
                )
            if count > len(body):
                raise PacketError(
                    f"RTCP padding count {count} at offset {offset} "
                    f"exceeds the {len(body)} bytes after the header"
                )
            body, padding = body[:-count], body[-count:]
        packets.append(_parse_one(packet_type, first & 0x1F, body, padding, raw))
        offset += size
    return packets


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Every RTCP packet in a compound datagram, in order; raises PacketError if any is malformed.

    A malformed packet condemns the whole datagram (RFC 3550 A.2): its length field can no longer be
    trusted to find the next one.
    """
    try:
        return _parse_compound(bytes(data))
    except PacketError:
        raise
    except (struct.error, IndexError, ValueError) as exc:  # a gap in the checks above: still refuse cleanly
        raise PacketError(f"malformed RTCP packet ({exc})") from None


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """The packets back to back, as one datagram."""
    return b"".join(packet.serialize() for packet in packets)


def ntp_from_unix(seconds: float) -> int:
    """The 64-bit NTP timestamp for a Unix time: seconds since 1900 << 32 | fraction in 1/2**32 s.

    Times from 2036-02-07 on wrap into NTP era 1 (the seconds field starts again at 0).
    """
    whole = math.floor(seconds)
    fraction = round((seconds - whole) * (1 << 32))  # exact: the subtraction and the scaling lose nothing
    return (((whole + NTP_UNIX_OFFSET) << 32) + fraction) & _U64


def unix_from_ntp(ntp: int) -> float:
    """The Unix time of a 64-bit NTP timestamp.

    A seconds field below 2**31 is read as era 1 (2036-2104), as RFC 4330 3 suggests: no RTP peer
    sends timestamps from before 1968.
    """
    seconds = ntp >> 32
    if seconds < 1 << 31:
        seconds += 1 << 32
    return seconds - NTP_UNIX_OFFSET + (ntp & _U32) / (1 << 32)


def middle_32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (16.16 fixed point seconds): an SR's LSR value."""
    return (ntp >> 16) & _U32
