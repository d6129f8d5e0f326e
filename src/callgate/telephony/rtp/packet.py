"""RTP data packets (RFC 3550 5.1), parsed and built as plain values.

A packet is a 12-byte fixed header, then the CSRC list, an optional header extension (5.3.1: a
16-bit profile word, a 16-bit length in 32-bit words, the data), the payload and optional padding
(the last byte says how many padding bytes there are, itself included). `RtpPacket.parse` accepts
what a peer may legally send, CSRCs and extensions included, and refuses anything else with a
`PacketError` whose reason says exactly what is wrong. Sequence numbers are 16 bits and wrap;
`seq_distance` and `seq_newer` compare them across the wrap.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from callgate.telephony.rtp.errors import PacketError

RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    #: (profile-defined 16 bits, data whose length is a multiple of 4), RFC 3550 5.3.1
    extension: tuple[int, bytes] | None = None
    #: padding bytes to append when serialising (0: none); parsing strips it and records the count
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise PacketError(f"RTP packet of {len(data)} bytes is shorter than the 12-byte header")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise PacketError(f"RTP version {version}, expected 2")
        payload_type = second & 0x7F
        if 72 <= payload_type <= 76:
            # 64-95 overlap RTCP when multiplexed (RFC 5761 4); 72-76 are RTCP packet types.
            raise PacketError(f"payload type {payload_type} is an RTCP packet type (RFC 5761)")
        end = len(data)
        padding = 0
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or padding > end - 12:
                raise PacketError(
                    f"RTP padding count {padding} does not fit the {end - 12} bytes after the header"
                )
            end -= padding
        offset = 12
        count = first & 0x0F
        if offset + 4 * count > end:
            raise PacketError(f"RTP CSRC count {count} exceeds the packet")
        csrcs = struct.unpack_from(f"!{count}I", data, offset) if count else ()
        offset += 4 * count
        extension = None
        if first & 0x10:
            if offset + 4 > end:
                raise PacketError("RTP extension bit set but no extension header follows")
            profile, words = struct.unpack_from("!HH", data, offset)
            offset += 4
            if offset + 4 * words > end:
                raise PacketError(f"RTP extension of {words} words exceeds the packet")
            extension = (profile, bytes(data[offset : offset + 4 * words]))
            offset += 4 * words
        return cls(
            payload_type=payload_type,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(second & 0x80),
            csrcs=tuple(csrcs),
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        if not 0 <= self.payload_type <= 127 or not 0 <= self.sequence <= 0xFFFF:
            raise ValueError(f"payload type {self.payload_type} or sequence {self.sequence} out of range")
        if len(self.csrcs) > 15:
            raise ValueError("at most 15 CSRCs")
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence, self.timestamp & 0xFFFFFFFF, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            profile, ext = self.extension
            if len(ext) % 4:
                raise ValueError("an RTP header extension is a whole number of 32-bit words")
            parts.append(struct.pack("!HH", profile, len(ext) // 4) + ext)
        parts.append(self.payload)
        if self.padding:
            if not 0 < self.padding <= 255:
                raise ValueError("padding is 1 to 255 bytes")
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def header(payload_type: int, sequence: int, timestamp: int, ssrc: int, marker: bool = False) -> bytes:
    """The 12-byte header of a plain packet (no CSRC, extension or padding): the sender's fast path."""
    return _HEADER.pack(
        0x80, (0x80 if marker else 0) | payload_type, sequence & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
    )


def seq_distance(a: int, b: int) -> int:
    """How far `b` is ahead of `a` in 16-bit sequence space, in -32768..32767 (negative: behind)."""
    return ((b - a + 0x8000) & 0xFFFF) - 0x8000


def seq_newer(a: int, b: int) -> bool:
    """Whether `b` comes after `a` (across the 65535 -> 0 wrap)."""
    return seq_distance(a, b) > 0
