"""SIP requests and responses (RFC 3261 7): parsing, serialising, and framing on UDP and TCP.

A datagram holds one message (18.3: Content-Length may be absent, extra bytes are dropped). A stream
carries messages back to back, each with a Content-Length; `StreamParser` cuts them out of whatever
chunks arrive and skips the CRLF keep-alives between them (RFC 5626 4.4.1). Parsing never raises
anything but `RemoteProtocolError`, whose reason says precisely what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from callgate.telephony.sip.errors import LocalProtocolError, RemoteProtocolError
from callgate.telephony.sip.headers import CSeq, Header, Headers, Via
from callgate.telephony.sip.uri import NameAddress, Uri, parse_uri

# ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
_DIGITS = re.compile(r"[0-9]+")

T = TypeVar("T")

# Via, From and To values repeat across the messages of a transaction and a dialog (the 180 and
# the 200 carry our INVITE's Via; every message of a call the same From): parsed once per text.
# The parsed values are frozen and never changed, as for `parse_uri`; a bad value raises each time.
_parse_via = lru_cache(maxsize=1024)(Via.parse)
_parse_name_address = lru_cache(maxsize=1024)(NameAddress.parse)

SIP_VERSION = "SIP/2.0"
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
_METHOD = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_HEADER_NAME = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# RFC 3261 8.1.1: every request and response carries these.
MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


@dataclass(slots=True)
class Message:
    """What requests and responses share: headers and a body."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    # Parsed views of header values, kept while the value stays the same string.
    _views: dict[str, tuple[Any, Any]] = field(default_factory=dict, repr=False, compare=False)

    # Typed views of the mandatory headers, parsed once per value (a message is looked at often).

    def _view(self, name: str, parse: Callable[[str], T]) -> T:
        value = self._required(name)
        hit = self._views.get(name)
        if hit is not None and hit[0] is value:
            return hit[1]  # type: ignore[no-any-return]
        parsed = parse(value)
        self._views[name] = (value, parsed)
        return parsed

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return self._view("CSeq", CSeq.parse)

    @property
    def vias(self) -> list[Via]:
        values = tuple(self.headers.get_all("Via"))
        hit = self._views.get("Via")
        if hit is not None and hit[0] == values:
            return list(hit[1])
        parsed = [_parse_via(value) for value in values]
        self._views["Via"] = (values, tuple(parsed))
        return parsed

    @property
    def from_(self) -> NameAddress:
        return self._view("From", _parse_name_address)

    @property
    def to(self) -> NameAddress:
        return self._view("To", _parse_name_address)

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(f"missing {name} header")
        return value

    def _serialize(self, start_line: str) -> bytes:
        lines = [start_line, *(h.serialize() for h in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def with_content_length(self) -> None:
        """Set Content-Length to the body's length (required on streams, wise everywhere)."""
        self.headers.set("Content-Length", str(len(self.body)))


@dataclass(slots=True)
class Request(Message):
    method: str = "OPTIONS"
    uri: str = "sip:invalid"

    @property
    def request_uri(self) -> Uri:
        return parse_uri(self.uri)

    def serialize(self) -> bytes:
        if not _METHOD.fullmatch(self.method) or " " in self.uri:
            raise LocalProtocolError(f"invalid request line: {self.method} {self.uri}")
        return self._serialize(f"{self.method} {self.uri} {SIP_VERSION}")


@dataclass(slots=True)
class Response(Message):
    status: int = 200
    reason: str = "OK"

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    def serialize(self) -> bytes:
        if not 100 <= self.status <= 699 or "\r" in self.reason or "\n" in self.reason:
            raise LocalProtocolError(f"invalid status line: {self.status} {self.reason!r}")
        return self._serialize(f"{SIP_VERSION} {self.status} {self.reason}")


def response_for(request: Request, status: int, reason: str, *, to_tag: str | None = None,
                 contact: str | None = None) -> Response:  # fmt: skip
    """A response echoing the request's Via, From, To (with our tag), Call-ID and CSeq (8.2.6.2)."""
    response = Response(status=status, reason=reason)
    for via in request.headers.get_all("Via"):
        response.headers.add("Via", via)
    response.headers.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if to_tag is not None and request.to.tag is None:
        to = f"{to};tag={to_tag}"
    response.headers.add("To", to)
    response.headers.add("Call-ID", request.call_id)
    response.headers.add("CSeq", request.headers.get("CSeq") or "")
    if contact is not None:
        response.headers.add("Contact", f"<{contact}>")
    response.headers.add("Content-Length", "0")
    return response


def _start(line: str) -> Request | Response:
    if line.startswith("SIP/"):
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if version != SIP_VERSION:
            raise RemoteProtocolError(f"unsupported SIP version {version!r}")
        if len(code) != 3 or not _DIGITS.fullmatch(code) or not 100 <= int(code) <= 699:
            raise RemoteProtocolError(f"invalid status code {code!r}")
        return Response(status=int(code), reason=reason)
    parts = line.split(" ")
    if len(parts) != 3:
        raise RemoteProtocolError(f"request line must be 'METHOD URI SIP/2.0': {line!r}")
    method, uri, version = parts
    if not _METHOD.fullmatch(method):
        raise RemoteProtocolError(f"invalid method {method!r}")
    if version != SIP_VERSION:
        raise RemoteProtocolError(f"unsupported SIP version {version!r}")
    if ":" not in uri:
        raise RemoteProtocolError(f"Request-URI has no scheme: {uri!r}")
    return Request(method=method, uri=uri)


_NAMES_SEEN: set[str] = set()  # header names already found valid (bounded below)


def _headers(text: str) -> Headers:
    headers = Headers()
    lines = text.split("\r\n")
    if "\r\n " not in text and "\r\n\t" not in text:
        # No folded lines (the usual case): one pass, no look-ahead.
        append = headers.lines.append
        for line in lines:
            name, colon, value = line.partition(":")
            name = name.rstrip(" \t")
            if not colon or (name not in _NAMES_SEEN and not _HEADER_NAME.fullmatch(name)):
                raise RemoteProtocolError(f"malformed header line {line[:80]!r}")
            if len(_NAMES_SEEN) < 1024:
                _NAMES_SEEN.add(name)
            append(Header(name, value.strip(" \t"), line))
        return headers
    i = 0
    while i < len(lines):
        line = lines[i]
        raw: str | None = line
        # RFC 3261 7.3.1: a line starting with whitespace continues the previous one.
        while i + 1 < len(lines) and lines[i + 1][:1] in (" ", "\t"):
            i += 1
            line = line.rstrip() + " " + lines[i].strip()
            raw = None  # folded: serialised in the unfolded form
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise RemoteProtocolError(f"malformed header line {line[:80]!r}")
        headers.lines.append(Header(name, value.strip(" \t"), raw))
        i += 1
    return headers


def _split(data: bytes) -> tuple[str, bytes]:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise RemoteProtocolError("message has no empty line (CRLF CRLF) after its headers")
    try:
        head = data[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"headers are not UTF-8 (byte {exc.start})") from None
    if "\x00" in head:
        raise RemoteProtocolError("headers contain a NUL byte")
    bare = head.replace("\r\n", "")
    if "\r" in bare or "\n" in bare:
        raise RemoteProtocolError("headers contain a bare CR or LF (lines end with CRLF)")
    return head, data[end + 4 :]


def _content_length(headers: Headers) -> int | None:
    values = [h.value for h in headers if h.key == "Content-Length"]
    if not values:
        return None
    if len(set(values)) > 1:
        raise RemoteProtocolError(f"conflicting Content-Length headers {values}")
    if not _DIGITS.fullmatch(values[0]) or len(values[0]) > 9:
        raise RemoteProtocolError(f"invalid Content-Length {values[0]!r}")
    return int(values[0])


def _check(message: Request | Response) -> None:
    for name in MANDATORY:
        if message.headers.get(name) is None:
            raise RemoteProtocolError(f"missing {name} header")
    vias = message.vias  # every Via must parse
    if not vias:
        raise RemoteProtocolError("missing Via header")
    cseq = message.cseq
    if isinstance(message, Request):
        message.request_uri  # noqa: B018 - parsing is the check
        if cseq.method != message.method:
            raise RemoteProtocolError(
                f"CSeq method {cseq.method} does not match the {message.method} request"
            )
    message.from_  # noqa: B018
    message.to  # noqa: B018


def _parse_head(head: str) -> Request | Response:
    start, _, header_text = head.partition("\r\n")
    message = _start(start)
    if header_text:
        message.headers = _headers(header_text)
    return message


def parse_head(data: bytes) -> Request | Response:
    """The start line and headers of a datagram, unchecked and without the body: enough to answer a
    request that `parse_datagram` refused (a 400 echoes its Via, From, To, Call-ID and CSeq)."""
    head, _ = _split(data)
    return _parse_head(head)


def parse_datagram(data: bytes) -> Request | Response:
    """The one message a UDP datagram holds (RFC 3261 18.3)."""
    head, body = _split(data)
    message = _parse_head(head)
    length = _content_length(message.headers)
    if length is not None:
        if length > len(body):
            raise RemoteProtocolError(f"Content-Length {length} exceeds the {len(body)} body bytes received")
        body = body[:length]  # 18.3: extra bytes in a datagram are discarded
    message.body = body
    _check(message)
    return message


class StreamParser:
    """Cuts messages out of a byte stream (TCP). Feed it chunks; take whole messages out."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._head: Request | Response | None = None
        self._length = 0
        self._error: RemoteProtocolError | None = None

    def feed(self, data: bytes) -> list[Request | Response]:
        """Every message completed by `data`; raises RemoteProtocolError (the stream is then unusable).

        Messages completed before the broken one are returned first; the error comes on the next call.
        """
        if self._error is not None:
            raise self._error
        self._buffer += data
        out: list[Request | Response] = []
        try:
            self._cut(out)
        except RemoteProtocolError as exc:
            if not out:
                raise
            self._error = exc
        return out

    def _cut(self, out: list[Request | Response]) -> None:
        while True:
            if self._head is None:
                # CRLF keep-alives between messages (RFC 5626 4.4.1) carry nothing.
                while self._buffer[:2] == b"\r\n":
                    del self._buffer[:2]
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEADER_BYTES:
                        raise RemoteProtocolError(f"headers longer than {MAX_HEADER_BYTES} bytes")
                    return
                head, _ = _split(bytes(self._buffer[: end + 4]))
                self._head = _parse_head(head)
                length = _content_length(self._head.headers)
                if length is None:
                    raise RemoteProtocolError("Content-Length is required on a stream transport")
                if length > MAX_BODY_BYTES:
                    raise RemoteProtocolError(
                        f"Content-Length {length} is over the {MAX_BODY_BYTES} byte limit"
                    )
                self._length = length
                del self._buffer[: end + 4]
            if len(self._buffer) < self._length:
                return
            message, self._head = self._head, None
            message.body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            _check(message)
            out.append(message)
