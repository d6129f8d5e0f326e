"""Digest authentication (RFC 7616, RFC 2617, as SIP uses it in RFC 3261 22.4): answering 401/407.

Pure functions over strings: parse a `WWW-Authenticate`/`Proxy-Authenticate` challenge, and compute
the `Authorization`/`Proxy-Authorization` value for a request. `DigestClient` keeps the nonce count
per nonce and gives up after one failed answer to the same realm (the call then fails with the
final status, as the engine expects).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from callgate.telephony.sip.errors import RemoteProtocolError

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
_PARAM = re.compile(r'\s*([A-Za-z0-9_\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge from a 401 or 407."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            raise RemoteProtocolError(f"not a Digest challenge: {scheme!r}")
        params: dict[str, str] = {}
        pos = 0
        rest = rest.strip()
        while pos < len(rest):
            match = _PARAM.match(rest, pos)
            if match is None or match.end() == pos:
                raise RemoteProtocolError(f"malformed Digest challenge at {rest[pos : pos + 30]!r}")
            name, raw = match.group(1).lower(), match.group(2)
            params[name] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
            pos = match.end()
        if "realm" not in params or "nonce" not in params:
            raise RemoteProtocolError("Digest challenge without realm or nonce")
        algorithm = params.get("algorithm", "MD5")
        base = algorithm.upper().removesuffix("-SESS")
        if base not in _HASHES:
            raise RemoteProtocolError(f"unsupported Digest algorithm {algorithm!r}")
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=algorithm,
            qop=tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip()),
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def answer(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization (or Proxy-Authorization) header value for this request (RFC 7616 3.4.1)."""
    algorithm = challenge.algorithm.upper()
    h = _HASHES[algorithm.removesuffix("-SESS")]
    ha1 = h(f"{username}:{challenge.realm}:{password}".encode())
    if algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}".encode())
    qop = "auth" if "auth" in challenge.qop else ("auth-int" if "auth-int" in challenge.qop else None)
    ha2 = h(f"{method}:{uri}".encode()) if qop != "auth-int" else h(f"{method}:{uri}:{h(body)}".encode())
    nc_text = f"{nc:08x}"
    if qop is None:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}".encode())
    else:
        response = h(f"{ha1}:{challenge.nonce}:{nc_text}:{cnonce}:{qop}:{ha2}".encode())
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"qop={qop}", f"nc={nc_text}", f"cnonce={_quote(cnonce)}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


@dataclass(slots=True)
class DigestClient:
    """Answers challenges for one request's retries: counts nonces, and answers a realm once.

    `cnonce` is a callable so that tests can fix it; production passes one that returns random text.
    """

    username: str
    password: str
    cnonce: Callable[[], str]
    _counts: dict[str, int] = field(default_factory=dict)
    _answered: set[str] = field(default_factory=set)

    def authorize(self, challenge_header: str, *, method: str, uri: str, body: bytes = b"") -> str | None:
        """The header value answering the challenge, or None to give up (already failed for this
        realm, unless the server said the nonce was merely stale: RFC 7616 3.3)."""
        challenge = Challenge.parse(challenge_header)
        if challenge.realm in self._answered and not challenge.stale:
            return None
        self._answered.add(challenge.realm)
        count = self._counts.get(challenge.nonce, 0) + 1
        self._counts[challenge.nonce] = count
        return answer(
            challenge,
            method=method,
            uri=uri,
            username=self.username,
            password=self.password,
            cnonce=self.cnonce(),
            nc=count,
            body=body,
        )
