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


# Strongest first: when a server offers several algorithms (RFC 8760), answer the strongest we know.
_STRENGTH = {"SHA-512-256": 3, "SHA-256": 2, "MD5": 1}


def _strength(challenge: Challenge) -> int:
    return _STRENGTH[challenge.algorithm.upper().removesuffix("-SESS")]


@dataclass(slots=True)
class DigestClient:
    """The credentials of one call across its retries (RFC 3261 22.2, 22.3).

    A 401 (`WWW-Authenticate`, from the far end) and a 407 (`Proxy-Authenticate`, from each proxy on
    the way) may come one after the other and each may carry several challenges; every realm answered
    so far is answered again on each retry, with its nonce count moving on. A realm that challenges
    again after we answered it (and does not say the nonce was merely stale, RFC 7616 3.3) refused our
    password: give up, and the call fails with that final status.

    `cnonce` is a callable so that tests can fix it; production passes one that returns random text.
    """

    username: str
    password: str
    cnonce: Callable[[], str]
    _challenges: dict[tuple[str, str], Challenge] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def challenged(self, status: int, headers: list[str]) -> bool:
        """Take the challenges of a 401 or 407 (the values of its authenticate headers); False to give up
        (nothing we can answer, or a realm refused our answer)."""
        header = "Authorization" if status == 401 else "Proxy-Authorization"
        best: dict[str, Challenge] = {}
        for value in headers:
            try:
                challenge = Challenge.parse(value)
            except RemoteProtocolError:
                continue  # another scheme or an algorithm we do not know: another header may do
            known = best.get(challenge.realm)
            if known is None or _strength(challenge) > _strength(known):
                best[challenge.realm] = challenge
        if not best:
            return False
        for realm, challenge in best.items():
            if (header, realm) in self._challenges and not challenge.stale:
                return False
        for realm, challenge in best.items():
            self._challenges[(header, realm)] = challenge
        return True

    def headers(self, *, method: str, uri: str, body: bytes = b"") -> list[tuple[str, str]]:
        """The Authorization/Proxy-Authorization headers of the next request, one per realm."""
        out = []
        for (header, _realm), challenge in self._challenges.items():
            count = self._counts.get(challenge.nonce, 0) + 1
            self._counts[challenge.nonce] = count
            value = answer(
                challenge,
                method=method,
                uri=uri,
                username=self.username,
                password=self.password,
                cnonce=self.cnonce(),
                nc=count,
                body=body,
            )
            out.append((header, value))
        return out
