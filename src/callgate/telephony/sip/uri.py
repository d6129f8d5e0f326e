"""SIP and tel URIs (RFC 3261 19.1 and 25.1, RFC 3966), and name-addr values (RFC 3261 20.10, 25.1).

Parsing raises `RemoteProtocolError` with the reason; `serialize()` gives back the canonical text, which
is the text parsed for every URI written the usual way (parameters keep their order and case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from callgate.telephony.sip.errors import RemoteProtocolError

# ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
_DIGITS = re.compile(r"[0-9]+")

# RFC 3261 25.1: hostname, IPv4address, IPv6reference
_HOSTNAME = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?"
)
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# Characters a user part or a parameter may hold (unreserved, escaped, and the extra marks of 25.1).
_USER = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+")
_PARAMCHARS = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})+")
_HEADERCHARS = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|%[0-9A-Fa-f]{2})*")
_PASSWORD = re.compile(r"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*")
_TEL_NUMBER = re.compile(r"\+?[0-9A-Fa-f*#().\-]+")


def parse_host(text: str, what: str) -> tuple[str, int | None]:
    """`host[:port]` -> (host, port); IPv6 references keep their brackets."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RemoteProtocolError(f"{what} has an unterminated IPv6 reference: {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if not _IPV6.fullmatch(host):
            raise RemoteProtocolError(f"{what} has an invalid IPv6 reference: {host!r}")
    else:
        host, sep, rest = text.partition(":")
        rest = sep + rest
        if not (_IPV4.fullmatch(host) or _HOSTNAME.fullmatch(host)):
            raise RemoteProtocolError(f"{what} has an invalid host: {host!r}")
    if not rest:
        return host, None
    if not rest.startswith(":") or not _DIGITS.fullmatch(rest[1:]) or not 0 < int(rest[1:]) <= 65535:
        raise RemoteProtocolError(f"{what} has an invalid port: {rest[1:]!r}")
    return host, int(rest[1:])


# sent-by and host:port texts repeat (our own address in every Via, the far end's in every Contact).
parse_host_cached = lru_cache(maxsize=1024)(parse_host)


def _parse_params(text: str, what: str, chars: re.Pattern[str]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    if not text:
        return params
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if not name or not chars.fullmatch(name) or (sep and not (value and chars.fullmatch(value))):
            raise RemoteProtocolError(f"{what} has an invalid parameter: {part!r}")
        params[name] = value if sep else None
    return params


def _serialize_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(frozen=True, slots=True)
class SipUri:
    """`sip:` or `sips:` URI. Parameters keep their order; `headers` is the raw `?...` part."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        scheme, sep, rest = text.partition(":")
        if not sep or scheme.lower() not in {"sip", "sips"}:
            raise RemoteProtocolError(f"not a sip: or sips: URI: {text!r}")
        rest, _, headers = rest.partition("?")
        user = password = None
        if "@" in rest:
            userinfo, rest = rest.rsplit("@", 1)
            user, has_password, password_text = userinfo.partition(":")
            if not user or not _USER.fullmatch(user):
                raise RemoteProtocolError(f"URI has an invalid user part: {userinfo!r}")
            if has_password:
                if not _PASSWORD.fullmatch(password_text):
                    raise RemoteProtocolError(f"URI has an invalid password: {text!r}")
                password = password_text
        hostport, _, param_text = rest.partition(";")
        if not hostport:
            raise RemoteProtocolError(f"URI has no host: {text!r}")
        host, port = parse_host_cached(hostport, "URI")
        if headers and not _HEADERCHARS.fullmatch(headers.replace("&", "").replace("=", "")):
            raise RemoteProtocolError(f"URI has invalid headers: {headers!r}")
        return cls(
            host=host,
            user=user,
            password=password,
            port=port,
            scheme=scheme.lower(),
            params=_parse_params(param_text, "URI", _PARAMCHARS),
            headers=headers,
        )

    def serialize(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{_serialize_params(self.params)}{headers}"

    @property
    def transport(self) -> str:
        """The transport the URI asks for: `transport=` if given, else UDP (TLS for sips)."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    def __str__(self) -> str:
        return self.serialize()


@dataclass(frozen=True, slots=True)
class TelUri:
    """`tel:` URI (RFC 3966): a number and its parameters."""

    number: str
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> TelUri:
        scheme, sep, rest = text.partition(":")
        if not sep or scheme.lower() != "tel":
            raise RemoteProtocolError(f"not a tel: URI: {text!r}")
        number, _, param_text = rest.partition(";")
        if not _TEL_NUMBER.fullmatch(number):
            raise RemoteProtocolError(f"tel: URI has an invalid number: {number!r}")
        return cls(number=number, params=_parse_params(param_text, "tel: URI", _PARAMCHARS))

    def serialize(self) -> str:
        return f"tel:{self.number}{_serialize_params(self.params)}"

    def __str__(self) -> str:
        return self.serialize()


Uri = SipUri | TelUri


@lru_cache(maxsize=2048)
def parse_uri(text: str) -> Uri:
    """A sip:, sips: or tel: URI. Cached: calls name the same few URIs over and over (the targets,
    the Contacts, our own From), and a parsed URI is a frozen value nobody changes."""
    if text[:4].lower() == "tel:":
        return TelUri.parse(text)
    return SipUri.parse(text)


_QUOTED = re.compile(r'"((?:[^"\\\r\n]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*)"')


_USER_CHAR = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/]")


def escape_user(text: str) -> str:
    """`text` as the user part of a SIP URI: characters outside RFC 3261's `user` escaped as %XX."""
    return "".join(c if _USER_CHAR.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def display_name(text: str) -> str:
    """A display name safe for a header: control characters (CR, LF, ...) become spaces, runs of
    whitespace one space. Quoting is `NameAddress.serialize`'s job."""
    return " ".join("".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text).split())


@dataclass(frozen=True, slots=True)
class NameAddress:
    """A From, To, Contact, Route or Record-Route value: optional display name, URI, header params.

    `angle` says whether the URI was written in angle brackets; without them, RFC 3261 20.10 makes
    every `;param` a header parameter, not a URI parameter.
    """

    uri: Uri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    angle: bool = True

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        text = text.strip()
        display: str | None = None
        if text.startswith('"'):
            match = _QUOTED.match(text)
            if match is None:
                raise RemoteProtocolError(f"unterminated quoted display name: {text!r}")
            display = re.sub(r"\\(.)", r"\1", match.group(1))
            text = text[match.end() :].lstrip()
            if not text.startswith("<"):
                raise RemoteProtocolError(f"a display name must be followed by <URI>: {text!r}")
        if "<" in text:
            before, _, rest = text.partition("<")
            if display is None and before.strip():
                display = " ".join(before.split())
            uri_text, closed, after = rest.partition(">")
            if not closed:
                raise RemoteProtocolError(f"unterminated <URI>: {text!r}")
            after = after.strip()
            if after and not after.startswith(";"):
                raise RemoteProtocolError(f"unexpected text after <URI>: {after!r}")
            return cls(
                uri=parse_uri(uri_text),
                display_name=display,
                params=_parse_params(after[1:].replace(" ", ""), "header", _PARAMCHARS),
            )
        uri_text, _, param_text = text.partition(";")
        if "?" in uri_text or "," in uri_text:
            raise RemoteProtocolError(f"a URI with headers or commas must be in angle brackets: {text!r}")
        return cls(
            uri=parse_uri(uri_text),
            params=_parse_params(param_text.replace(" ", ""), "header", _PARAMCHARS),
            angle=False,
        )

    def serialize(self) -> str:
        params = _serialize_params(self.params)
        if not self.angle and self.display_name is None:
            return f"{self.uri.serialize()}{params}"
        name = ""
        if self.display_name is not None:
            name = (
                self.display_name
                if _TOKEN.fullmatch(self.display_name.replace(" ", "x"))
                else '"' + self.display_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            ) + " "
        return f"{name}<{self.uri.serialize()}>{params}"

    def __str__(self) -> str:
        return self.serialize()
