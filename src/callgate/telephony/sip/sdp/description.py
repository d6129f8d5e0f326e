"""SDP session descriptions (RFC 4566): parsing and serialising, sans-IO.

Theory of operation: `SessionDescription.parse` turns a body into immutable values (`Origin`,
`Connection`, `Timing`, `Attribute`, `MediaDescription`) and keeps every line it does not interpret
(i=, b=, k=, z=, unknown letters, unknown attributes), so what it parsed serialises back; output always
uses CRLF and the RFC 4566 line order, input may use bare LF and tolerates blank lines. Every value
checks itself when built: a bad value we were asked to build raises `LocalProtocolError`, and the parser
turns the same check into `RemoteProtocolError("SDP line N: ...")`, so nothing else escapes from
parsing untrusted bytes. `MediaDescription` has read-only views of what an audio call needs: payload
types, rtpmap (falling back to the static types of RFC 3551), fmtp, ptime and direction.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from callgate.telephony.sip.errors import LocalProtocolError, RemoteProtocolError

# RFC 4566 9: token-char, and proto = token *("/" token).
_TOKEN_CHAR = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]"
_TOKEN = re.compile(f"{_TOKEN_CHAR}+")
_PROTO = re.compile(f"{_TOKEN_CHAR}+(?:/{_TOKEN_CHAR}+)*")
_NON_WS = re.compile(r"[^ \t\r\n\x00]+")
_FIELD_SEP = re.compile(r"[ \t]+")
# ASCII digits only, and bounded: int() refuses "²" and very long digit strings.
_PT = re.compile(r"[0-9]{1,3}")
_PORT = re.compile(r"([0-9]{1,5})(?:/([0-9]{1,5}))?")
_TIME = re.compile(r"[0-9]{1,20}")
_VERSION = re.compile(r"[0-9]{1,64}")
_PTIME = re.compile(r"[0-9]{1,5}")
_RATE = re.compile(r"[0-9]{1,10}")
_CHANNELS = re.compile(r"[0-9]{1,3}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_HOSTNAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?"
)
# What may follow a multicast address in c= (RFC 4566 5.7): /ttl[/count] for IP4, /count for IP6.
_MULTICAST_SUFFIX = {"IP4": re.compile(r"[0-9]{1,3}(?:/[0-9]{1,5})?"), "IP6": re.compile(r"[0-9]{1,5}")}

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# The static payload types of the G.711 codecs (RFC 3551 6).
G711_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}

# Where the lines we keep without interpreting go, relative to the ones we do (RFC 4566 5):
# session v o s i u e p c b t r z k a, media m i c b k a; letters RFC 4566 does not know go just before a=.
_SESSION_RANK = {"i": 0, "u": 1, "e": 2, "p": 3, "b": 5, "z": 7, "k": 8}
_MEDIA_RANK = {"i": 0, "b": 2, "k": 3}
_UNKNOWN_RANK = 9
_SESSION_ONLY = frozenset("vosueptrz")
_SESSION_STRUCTURE = frozenset("voscrtam")
_MEDIA_STRUCTURE = frozenset("mca") | _SESSION_ONLY


def _check_text(value: str, what: str) -> None:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise LocalProtocolError(f"{what} holds a CR, LF or NUL: {value!r}")


def _check_address_type(nettype: str, addrtype: str, line: str) -> None:
    if nettype != "IN":
        raise LocalProtocolError(f"unknown network type {nettype!r} in {line!r}")
    if addrtype not in ("IP4", "IP6"):
        raise LocalProtocolError(f"unknown address type {addrtype!r} in {line!r}")


def _valid_host(host: str, addrtype: str) -> bool:
    if _HOSTNAME.fullmatch(host):
        return True
    if addrtype == "IP4":
        return _IPV4.fullmatch(host) is not None
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


def _fields(value: str) -> list[str]:
    """The space-separated fields of a line's value; runs of spaces and tabs count as one."""
    return [part for part in _FIELD_SEP.split(value) if part]


def _rank(letter: str, ranks: dict[str, int]) -> int:
    return ranks.get(letter, _UNKNOWN_RANK)


def _check_other(lines: Iterable[tuple[str, str]], forbidden: frozenset[str], where: str) -> None:
    for letter, value in lines:
        if len(letter) != 1 or not "a" <= letter <= "z" or letter in forbidden:
            raise LocalProtocolError(f"a {letter}= line cannot be kept as an uninterpreted {where} line")
        _check_text(value, f"the {letter}= line")


@dataclass(frozen=True, slots=True)
class Connection:
    """A c= line (RFC 4566 5.7). `address` is as written, with any multicast /ttl; `host` drops that."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    def __post_init__(self) -> None:
        line = f"c={self.value()}"
        _check_address_type(self.nettype, self.addrtype, line)
        host, slash, suffix = self.address.partition("/")
        if not _valid_host(host, self.addrtype) or (
            slash and not _MULTICAST_SUFFIX[self.addrtype].fullmatch(suffix)
        ):
            raise LocalProtocolError(f"bad address {self.address!r} in {line!r}")

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """IN IP6 when the address has a colon, else IN IP4."""
        return cls(address, "IP6" if ":" in address else "IP4")

    @classmethod
    def parse(cls, value: str) -> Connection:
        """The value of a c= line; raises `LocalProtocolError` (the parser says which line)."""
        fields = _fields(value)
        if len(fields) != 3:
            raise LocalProtocolError(f"bad c= line {'c=' + value!r}")
        return cls(fields[2], fields[1], fields[0])

    @property
    def host(self) -> str:
        return self.address.partition("/")[0]

    def value(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class Origin:
    """The o= line (RFC 4566 5.2). The session id is kept as written (it only names the session); the
    version is a number because a changed session description must carry the next one (RFC 3264 8).
    The address is taken as written: nothing is sent to it."""

    username: str
    session_id: str
    version: int
    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    def __post_init__(self) -> None:
        line = f"o={self.value()}"
        for what, text in (("username", self.username), ("session id", self.session_id)):
            if not _NON_WS.fullmatch(text):
                raise LocalProtocolError(f"bad {what} {text!r} in {line!r}")
        if self.version < 0:
            raise LocalProtocolError(f"bad session version {self.version} in {line!r}")
        _check_address_type(self.nettype, self.addrtype, line)
        if not _NON_WS.fullmatch(self.address):
            raise LocalProtocolError(f"bad address {self.address!r} in {line!r}")

    @classmethod
    def parse(cls, value: str) -> Origin:
        fields = _fields(value)
        line = "o=" + value
        if len(fields) != 6:
            raise LocalProtocolError(f"bad o= line {line!r}")
        username, session_id, version, nettype, addrtype, address = fields
        if not _VERSION.fullmatch(version):
            raise LocalProtocolError(f"bad session version {version!r} in {line!r}")
        return cls(username, session_id, int(version), address, addrtype, nettype)

    def value(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.version} {self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Timing:
    """A t= line and the r= lines under it, kept as written. Calls use t=0 0 (RFC 3264 5)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.start < 0 or self.stop < 0:
            raise LocalProtocolError(f"bad t= line {f't={self.start} {self.stop}'!r}")
        for repeat in self.repeats:
            _check_text(repeat, "an r= line")

    @classmethod
    def parse(cls, value: str) -> Timing:
        fields = _fields(value)
        if len(fields) != 2 or not all(_TIME.fullmatch(f) for f in fields):
            raise LocalProtocolError(f"bad t= line {'t=' + value!r}")
        return cls(int(fields[0]), int(fields[1]))


@dataclass(frozen=True, slots=True)
class Attribute:
    """An a= line: `a=name` (value None) or `a=name:value` (value kept as written)."""

    name: str
    value: str | None = None

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.name):
            raise LocalProtocolError(f"bad attribute name {self.name!r} in {self.line()!r}")
        if self.value is not None:
            _check_text(self.value, f"the value of a={self.name}")

    @classmethod
    def parse(cls, value: str) -> Attribute:
        name, colon, rest = value.partition(":")
        if not colon:
            # "a=sendrecv " happens; the trailing blank carries nothing.
            return cls(name.rstrip(" \t"))
        return cls(name, rest)

    def line(self) -> str:
        return f"a={self.name}" if self.value is None else f"a={self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """What an a=rtpmap says about a payload type (RFC 4566 6): encoding/clock rate[/channels]."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    def __post_init__(self) -> None:
        if (
            not 0 <= self.payload_type <= 127
            or not _TOKEN.fullmatch(self.encoding)
            or self.clock_rate <= 0
            or (self.channels is not None and self.channels <= 0)
        ):
            raise LocalProtocolError(f"bad a=rtpmap line {'a=rtpmap:' + self.value()!r}")

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        """The value of an a=rtpmap line; raises `LocalProtocolError` (the parser says which line)."""
        fields = _fields(value)
        parts = fields[1].split("/") if len(fields) == 2 else []
        if (
            len(parts) not in (2, 3)
            or not _PT.fullmatch(fields[0])
            or not _RATE.fullmatch(parts[1])
            or (len(parts) == 3 and not _CHANNELS.fullmatch(parts[2]))
        ):
            raise LocalProtocolError(f"bad a=rtpmap line {'a=rtpmap:' + value!r}")
        channels = int(parts[2]) if len(parts) == 3 else None
        try:
            return cls(int(fields[0]), parts[0], int(parts[1]), channels)
        except LocalProtocolError:
            raise LocalProtocolError(f"bad a=rtpmap line {'a=rtpmap:' + value!r}") from None

    def value(self) -> str:
        channels = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{channels}"

    @property
    def is_telephone_event(self) -> bool:
        """RFC 4733 DTMF events at 8 kHz, the rate G.711 calls use."""
        return self.encoding.lower() == "telephone-event" and self.clock_rate == 8000

    @property
    def g711(self) -> str | None:
        """The G.711 codec ("PCMU" or "PCMA") this is, at 8 kHz mono, whatever the case of the name."""
        name = self.encoding.upper()
        if name in G711_PAYLOAD_TYPES and self.clock_rate == 8000 and self.channels in (None, 1):
            return name
        return None


# RFC 3551 table 4: the audio payload types that need no a=rtpmap.
_STATIC_AUDIO = {
    pt: RtpMap(pt, name, rate, channels)
    for pt, name, rate, channels in (
        (0, "PCMU", 8000, None),
        (3, "GSM", 8000, None),
        (4, "G723", 8000, None),
        (5, "DVI4", 8000, None),
        (6, "DVI4", 16000, None),
        (7, "LPC", 8000, None),
        (8, "PCMA", 8000, None),
        (9, "G722", 8000, None),
        (10, "L16", 44100, 2),
        (11, "L16", 44100, None),
        (12, "QCELP", 8000, None),
        (13, "CN", 8000, None),
        (14, "MPA", 90000, None),
        (15, "G728", 8000, None),
        (16, "DVI4", 11025, None),
        (17, "DVI4", 22050, None),
        (18, "G729", 8000, None),
    )
}


def _parse_fmtp(value: str) -> tuple[int, str]:
    fmt, *params = _FIELD_SEP.split(value.strip(" \t"), maxsplit=1)
    if not _PT.fullmatch(fmt) or int(fmt) > 127:
        raise LocalProtocolError(f"bad a=fmtp line {'a=fmtp:' + value!r}")
    return int(fmt), params[0] if params else ""


def _parse_ptime(value: str) -> int:
    text = value.strip(" \t")
    if not _PTIME.fullmatch(text) or int(text) == 0:
        raise LocalProtocolError(f"bad a=ptime line {'a=ptime:' + value!r}")
    return int(text)


class _AttributeCheck:
    """Checks the attributes of one section as they come, so the parser can name the line at fault.

    At both levels: at most one direction attribute, and it takes no value. In a media section also
    a=ptime, and for RTP media a=rtpmap and a=fmtp, must parse and come at most once (per payload type).
    """

    __slots__ = ("rtp", "media", "direction", "ptime", "rtpmap", "fmtp")

    def __init__(self, *, media: bool, rtp: bool) -> None:
        self.media = media
        self.rtp = rtp
        self.direction: str | None = None
        self.ptime = False
        self.rtpmap: set[int] = set()
        self.fmtp: set[int] = set()

    def add(self, attribute: Attribute) -> None:
        name, value = attribute.name, attribute.value
        if name in DIRECTIONS:
            if value is not None:
                raise LocalProtocolError(f"a={name} takes no value: {attribute.line()!r}")
            if self.direction is not None:
                raise LocalProtocolError(f"second direction attribute a={name} after a={self.direction}")
            self.direction = name
        if not self.media or value is None:
            return
        if name == "ptime":
            _parse_ptime(value)
            if self.ptime:
                raise LocalProtocolError("second a=ptime line")
            self.ptime = True
        elif name == "rtpmap" and self.rtp:
            pt = RtpMap.parse(value).payload_type
            if pt in self.rtpmap:
                raise LocalProtocolError(f"second a=rtpmap for payload type {pt}")
            self.rtpmap.add(pt)
        elif name == "fmtp" and self.rtp:
            pt = _parse_fmtp(value)[0]
            if pt in self.fmtp:
                raise LocalProtocolError(f"second a=fmtp for payload type {pt}")
            self.fmtp.add(pt)


def _is_rtp(protocol: str) -> bool:
    return "RTP/" in protocol.upper()


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """An m= section: `m=<media> <port>[/<count>] <protocol> <formats>`, its c=, a= and other lines.

    For RTP protocols each format is a payload type (0-127); `payload_types` gives them as numbers.
    `other` holds the i=, b=, k= and unknown lines, kept as written.
    """

    media: str
    port: int
    protocol: str
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        line = self.m_line()
        if not _TOKEN.fullmatch(self.media):
            raise LocalProtocolError(f"bad media type {self.media!r} in {line!r}")
        if not 0 <= self.port <= 65535:
            raise LocalProtocolError(f"bad port {self.port!r} in {line!r}")
        if self.port_count is not None and not 1 <= self.port_count <= 65535:
            raise LocalProtocolError(f"bad port count {self.port_count!r} in {line!r}")
        if not _PROTO.fullmatch(self.protocol):
            raise LocalProtocolError(f"bad protocol {self.protocol!r} in {line!r}")
        rtp = _is_rtp(self.protocol)
        for fmt in self.formats:
            if rtp and not (_PT.fullmatch(fmt) and int(fmt) <= 127):
                raise LocalProtocolError(f"bad payload type {fmt!r} in {line!r}")
            if not _TOKEN.fullmatch(fmt):
                raise LocalProtocolError(f"bad format {fmt!r} in {line!r}")
        # A stream in use needs a format (RFC 4566 5.14); rejected ones are sometimes sent without.
        if not self.formats and self.port != 0:
            raise LocalProtocolError(f"no formats in {line!r}")
        _check_other(self.other, _MEDIA_STRUCTURE, "media")
        check = _AttributeCheck(media=True, rtp=rtp)
        for attribute in self.attributes:
            check.add(attribute)

    def m_line(self) -> str:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        return "m=" + " ".join((self.media, port, self.protocol, *self.formats))

    def lines(self) -> list[str]:
        other = sorted(self.other, key=lambda line: _rank(line[0], _MEDIA_RANK))
        out = [self.m_line()]
        out += [f"{letter}={value}" for letter, value in other if letter == "i"]
        if self.connection is not None:
            out.append(f"c={self.connection.value()}")
        out += [f"{letter}={value}" for letter, value in other if letter != "i"]
        out += [attribute.line() for attribute in self.attributes]
        return out

    @property
    def rejected(self) -> bool:
        """Port 0: the stream is refused or turned off (RFC 3264 6, 8.2)."""
        return self.port == 0

    @property
    def is_rtp(self) -> bool:
        return _is_rtp(self.protocol)

    @property
    def payload_types(self) -> tuple[int, ...]:
        """The formats as payload type numbers, in the m= line's order; () for media not over RTP."""
        return tuple(int(fmt) for fmt in self.formats) if self.is_rtp else ()

    def attribute(self, name: str) -> str | None:
        """The value of the first a=`name` line with a value, or None."""
        for attribute in self.attributes:
            if attribute.name == name and attribute.value is not None:
                return attribute.value
        return None

    @property
    def rtpmap(self) -> dict[int, RtpMap]:
        """Payload type -> a=rtpmap, for RTP media."""
        if not self.is_rtp:
            return {}
        maps = (RtpMap.parse(a.value) for a in self.attributes if a.name == "rtpmap" and a.value is not None)
        return {m.payload_type: m for m in maps}

    @property
    def fmtp(self) -> dict[int, str]:
        """Payload type -> the parameters of its a=fmtp line, for RTP media."""
        if not self.is_rtp:
            return {}
        pairs = (_parse_fmtp(a.value) for a in self.attributes if a.name == "fmtp" and a.value is not None)
        return dict(pairs)

    @property
    def ptime(self) -> int | None:
        """a=ptime in milliseconds, or None when the section has none."""
        value = self.attribute("ptime")
        return _parse_ptime(value) if value is not None else None

    @property
    def direction_attribute(self) -> str | None:
        """This section's own sendrecv/sendonly/recvonly/inactive; `SessionDescription.direction_of`
        resolves it against the session level."""
        return next((a.name for a in self.attributes if a.name in DIRECTIONS), None)

    def encoding_of(self, payload_type: int) -> RtpMap | None:
        """What a payload type means here: its a=rtpmap, else the static audio type of RFC 3551."""
        mapped = self.rtpmap.get(payload_type)
        if mapped is not None:
            return mapped
        return _STATIC_AUDIO.get(payload_type) if self.media == "audio" else None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body. `other` holds the session-level i=, u=, e=, p=, b=, z=, k= and unknown lines."""

    origin: Origin
    name: str = "-"
    connection: Connection | None = None
    timing: tuple[Timing, ...] = (Timing(),)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()
    other: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _check_text(self.name, "the s= line")
        _check_other(self.other, _SESSION_STRUCTURE, "session")
        check = _AttributeCheck(media=False, rtp=False)
        for attribute in self.attributes:
            check.add(attribute)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body (UTF-8 bytes, or text). Raises only `RemoteProtocolError`."""
        if isinstance(data, bytes):
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RemoteProtocolError(
                    f"SDP is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
                ) from None
        return _Parser().run(data)

    def text(self) -> str:
        """The SDP text, CRLF after every line, lines in the order RFC 4566 5 gives."""
        other = sorted(self.other, key=lambda line: _rank(line[0], _SESSION_RANK))
        out = ["v=0", f"o={self.origin.value()}", f"s={self.name}"]
        out += [f"{letter}={value}" for letter, value in other if _rank(letter, _SESSION_RANK) < 4]
        if self.connection is not None:
            out.append(f"c={self.connection.value()}")
        out += [f"{letter}={value}" for letter, value in other if letter == "b"]
        for timing in self.timing:
            out.append(f"t={timing.start} {timing.stop}")
            out += [f"r={repeat}" for repeat in timing.repeats]
        out += [f"{letter}={value}" for letter, value in other if _rank(letter, _SESSION_RANK) > 5]
        out += [attribute.line() for attribute in self.attributes]
        for media in self.media:
            out += media.lines()
        return "\r\n".join(out) + "\r\n"

    def serialize(self) -> bytes:
        """The SDP as a message body (UTF-8)."""
        return self.text().encode("utf-8")

    @property
    def direction_attribute(self) -> str | None:
        """The session-level direction attribute, if any."""
        return next((a.name for a in self.attributes if a.name in DIRECTIONS), None)

    def direction_of(self, media: MediaDescription) -> str:
        """A stream's direction: its own attribute, else the session's, else sendrecv (RFC 3264 5.1)."""
        return media.direction_attribute or self.direction_attribute or "sendrecv"

    def connection_of(self, media: MediaDescription) -> Connection | None:
        """A stream's c=: its own, else the session's (RFC 4566 5.7)."""
        return media.connection or self.connection


class _MediaSection:
    """A media section while it is being parsed."""

    __slots__ = ("head", "connection", "attributes", "other", "check")

    def __init__(self, head: MediaDescription) -> None:
        self.head = head
        self.connection: Connection | None = None
        self.attributes: list[Attribute] = []
        self.other: list[tuple[str, str]] = []
        self.check = _AttributeCheck(media=True, rtp=head.is_rtp)

    def add(self, letter: str, value: str) -> None:
        if letter == "c":
            if self.connection is not None:
                raise LocalProtocolError("second c= line in a media section")
            self.connection = Connection.parse(value)
        elif letter == "a":
            attribute = Attribute.parse(value)
            self.check.add(attribute)
            self.attributes.append(attribute)
        elif letter in _SESSION_ONLY:
            raise LocalProtocolError(f"{letter}= line inside a media section")
        else:
            self.other.append((letter, value))

    def finish(self) -> MediaDescription:
        return replace(
            self.head,
            connection=self.connection,
            attributes=tuple(self.attributes),
            other=tuple(sorted(self.other, key=lambda line: _rank(line[0], _MEDIA_RANK))),
        )


class _Parser:
    """One pass over the lines. Each step raises `LocalProtocolError`; `run` names the line."""

    def __init__(self) -> None:
        self.origin: Origin | None = None
        self.name: str | None = None
        self.connection: Connection | None = None
        self.timing: list[Timing] = []
        self.attributes: list[Attribute] = []
        self.check = _AttributeCheck(media=False, rtp=False)
        self.other: list[tuple[str, str]] = []
        self.media: list[MediaDescription] = []
        self.section: _MediaSection | None = None

    def run(self, text: str) -> SessionDescription:
        first = True
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line:
                continue
            try:
                if len(line) < 2 or line[1] != "=" or not "a" <= line[0] <= "z":
                    raise LocalProtocolError(f"not a <type>=<value> line: {line!r}")
                if "\r" in line or "\x00" in line:
                    raise LocalProtocolError(f"CR or NUL inside a line: {line!r}")
                if first:
                    if line[0] != "v":
                        raise LocalProtocolError(f"expected v=0, got {line!r}")
                    if line != "v=0":
                        raise LocalProtocolError(f"unsupported SDP version {line!r}")
                    first = False
                    continue
                self.add(line[0], line[2:])
            except LocalProtocolError as exc:
                raise RemoteProtocolError(f"SDP line {number}: {exc}") from None
        if first:
            raise RemoteProtocolError("SDP is empty")
        if self.origin is None:
            raise RemoteProtocolError("SDP has no o= line")
        if self.name is None:
            raise RemoteProtocolError("SDP has no s= line")
        try:
            if self.section is not None:
                self.media.append(self.section.finish())
            return SessionDescription(
                origin=self.origin,
                name=self.name,
                connection=self.connection,
                timing=tuple(self.timing),
                attributes=tuple(self.attributes),
                media=tuple(self.media),
                other=tuple(sorted(self.other, key=lambda line: _rank(line[0], _SESSION_RANK))),
            )
        except LocalProtocolError as exc:  # every line was checked as it came; this is a safety net
            raise RemoteProtocolError(f"SDP: {exc}") from None

    def add(self, letter: str, value: str) -> None:
        if letter == "m":
            if self.section is not None:
                self.media.append(self.section.finish())
            self.section = _MediaSection(_media_line(value))
        elif self.section is not None:
            self.section.add(letter, value)
        elif letter == "v":
            raise LocalProtocolError("second v= line")
        elif letter == "o":
            if self.origin is not None:
                raise LocalProtocolError("second o= line")
            self.origin = Origin.parse(value)
        elif letter == "s":
            if self.name is not None:
                raise LocalProtocolError("second s= line")
            self.name = value
        elif letter == "c":
            if self.connection is not None:
                raise LocalProtocolError("second c= line at session level")
            self.connection = Connection.parse(value)
        elif letter == "t":
            self.timing.append(Timing.parse(value))
        elif letter == "r":
            if not self.timing:
                raise LocalProtocolError("r= line before any t= line")
            last = self.timing[-1]
            self.timing[-1] = replace(last, repeats=(*last.repeats, value))
        elif letter == "a":
            attribute = Attribute.parse(value)
            self.check.add(attribute)
            self.attributes.append(attribute)
        else:
            self.other.append((letter, value))


def _media_line(value: str) -> MediaDescription:
    fields = _fields(value)
    line = "m=" + value
    if len(fields) < 3:
        raise LocalProtocolError(f"bad m= line {line!r}")
    port = _PORT.fullmatch(fields[1])
    if port is None or int(port[1]) > 65535 or (port[2] is not None and int(port[2]) == 0):
        raise LocalProtocolError(f"bad port {fields[1]!r} in m= line {line!r}")
    count = int(port[2]) if port[2] is not None else None
    return MediaDescription(fields[0], int(port[1]), fields[2], tuple(fields[3:]), count)
