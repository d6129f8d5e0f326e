"""Header names (with the compact forms of RFC 3261 7.3.3), multi-valued headers, Via and CSeq.

A `Headers` list keeps every header line as it came (name as written, value unfolded) so a parsed
message serialises back to the same bytes; lookups go by canonical name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.uri import parse_host_cached

# ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
_DIGITS = re.compile(r"[0-9]+")

# RFC 3261 7.3.3 and the RFCs that added compact forms since (3265, 3515, 3892, 3841, 4028, 4474).
COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}
_SPECIAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
}
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

# Headers whose value is a comma-separated list (RFC 3261 7.3.1); the others (Date, the auth
# headers, Subject, ...) may hold commas inside one value.
LIST_HEADERS = frozenset(
    {
        "Via", "Contact", "Route", "Record-Route", "Allow", "Supported", "Require", "Proxy-Require",
        "Unsupported", "Accept", "Accept-Encoding", "Accept-Language", "Content-Encoding", "Allow-Events",
        "In-Reply-To", "Alert-Info", "Call-Info", "Error-Info", "Reason", "Path", "Service-Route",
    }
)  # fmt: skip


@lru_cache(maxsize=512)
def canonical(name: str) -> str:
    """`v` -> `Via`, `call-id` -> `Call-ID`, `content-type` -> `Content-Type`. (Cached: a message
    looks its names up many times, and the names seen are few; odd ones only cost a recomputation.)"""
    if len(name) == 1:
        full = COMPACT.get(name.lower())
        if full is not None:
            return full
    low = name.lower()
    special = _SPECIAL.get(low)
    if special is not None:
        return special
    return "-".join(part.capitalize() for part in low.split("-"))


def split_list(value: str) -> list[str]:
    """Split a list header on the commas outside quotes and angle brackets."""
    if '"' not in value:
        if "," not in value:  # one value, as most Contact and Route lines hold
            item = value.strip()
            return [item] if item else []
        if "<" not in value:
            return [item for item in (part.strip() for part in value.split(",")) if item]
    items: list[str] = []
    depth_angle = 0
    quoted = False
    escaped = False
    start = 0
    for i, ch in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth_angle += 1
        elif ch == ">":
            depth_angle = max(0, depth_angle - 1)
        elif ch == "," and depth_angle == 0:
            items.append(value[start:i].strip())
            start = i + 1
    if quoted:
        raise RemoteProtocolError(f"unterminated quoted string in {value!r}")
    items.append(value[start:].strip())
    return [item for item in items if item]


# The canonical name of every valid name already seen (bounded below): a message makes a Header per
# line, and a dict lookup is cheaper than a call through `canonical`'s cache.
_KEYS: dict[str, str] = {}


class Header:
    """One header line: the name as written, the value (unfolded), and the raw line if it came in.
    `key` is the canonical name, for lookups. (A plain class: a message makes one per line, and a
    dataclass's generated `__init__` plus `__post_init__` cost more.)"""

    __slots__ = ("name", "value", "raw", "key")

    def __init__(self, name: str, value: str, raw: str | None = None) -> None:
        self.name = name
        self.value = value
        self.raw = raw
        key = _KEYS.get(name)
        if key is None:
            key = canonical(name)
            if len(_KEYS) < 1024 and _TOKEN.fullmatch(name):  # `add` takes a name in here as valid
                _KEYS[name] = key
        self.key = key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Header):
            return NotImplemented
        return (self.name, self.value, self.raw) == (other.name, other.value, other.raw)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return f"Header(name={self.name!r}, value={self.value!r}, raw={self.raw!r})"

    def serialize(self) -> str:
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


@dataclass(slots=True)
class Headers:
    """The header lines of a message, in order."""

    lines: list[Header] = field(default_factory=list)

    def __iter__(self) -> Iterator[Header]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def get(self, name: str) -> str | None:
        """The first value of `name` (any form of the name), or None."""
        key = canonical(name)
        for line in self.lines:
            if line.key == key:
                return line.value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of `name`, list headers split into their items, in order."""
        key = canonical(name)
        out: list[str] = []
        for line in self.lines:
            if line.key == key:
                out.extend(split_list(line.value) if key in LIST_HEADERS else [line.value])
        return out

    def add(self, name: str, value: str) -> None:
        if (name not in _KEYS and not _TOKEN.fullmatch(name)) or "\r" in value or "\n" in value:
            from callgate.telephony.sip.errors import LocalProtocolError

            raise LocalProtocolError(f"invalid header {name!r}: {value!r}")
        self.lines.append(Header(name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every `name` line by one with `value` (at the place of the first)."""
        key = canonical(name)
        for i, line in enumerate(self.lines):
            if line.key == key:
                self.lines[i] = Header(canonical(name), value)
                self.lines[i + 1 :] = [x for x in self.lines[i + 1 :] if x.key != key]
                return
        self.add(canonical(name), value)

    def remove(self, name: str) -> None:
        key = canonical(name)
        self.lines = [line for line in self.lines if line.key != key]


def _params(text: str, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            raise RemoteProtocolError(f"{what} has an empty parameter")
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not _TOKEN.fullmatch(name) or (sep and not value):
            raise RemoteProtocolError(f"{what} has an invalid parameter: {part!r}")
        params[name.lower()] = value if sep else None
    return params


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (RFC 3261 20.42): `SIP/2.0/UDP host:port;branch=z9hG4bK...`."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @classmethod
    def parse(cls, text: str) -> Via:
        protocol, _, rest = text.strip().partition(" ")
        parts = [p.strip() for p in protocol.split("/")]
        if (
            len(parts) != 3
            or parts[0].upper() != "SIP"
            or parts[1] != "2.0"
            or not _TOKEN.fullmatch(parts[2])
        ):
            raise RemoteProtocolError(f"Via has an invalid protocol: {protocol!r}")
        sent_by, _, param_text = rest.strip().partition(";")
        if not sent_by.strip():
            raise RemoteProtocolError(f"Via has no sent-by host: {text!r}")
        host, port = parse_host_cached(sent_by.strip(), "Via")
        return cls(
            transport=parts[2].upper(),
            host=host,
            port=port,
            params=_params(param_text, "Via") if param_text else {},
        )

    def serialize(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"SIP/2.0/{self.transport} {self.host}{port}{params}"


@dataclass(frozen=True, slots=True)
class CSeq:
    """RFC 3261 20.16: a sequence number below 2**31 and the request method."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        return _parse_cseq(text)

    @classmethod
    def _parse(cls, text: str) -> CSeq:
        number, _, method = text.strip().partition(" ")
        method = method.strip()
        if not _DIGITS.fullmatch(number) or len(number) > 10 or int(number) >= 2**31:
            raise RemoteProtocolError(f"CSeq has an invalid sequence number: {text!r}")
        if not _TOKEN.fullmatch(method):
            raise RemoteProtocolError(f"CSeq has an invalid method: {text!r}")
        return cls(int(number), method)

    def serialize(self) -> str:
        return f"{self.seq} {self.method}"


@lru_cache(maxsize=512)
def _parse_cseq(text: str) -> CSeq:
    """CSeq values repeat ("1 INVITE", "2 BYE"): parsed once each."""
    return CSeq._parse(text)
