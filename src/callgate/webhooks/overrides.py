"""Twilio's connection overrides: `https://example.com/voice#ct=2000&rt=3000&rc=2&rp=ct,rt,5xx`.

Docs "Webhooks (HTTP callbacks): Connection Overrides". The fragment holds name=value pairs joined by
"&"; the fragment is never sent (RFC 3986 3.5), so the request, and the signature computed on it, use
the URL without it.

    name  meaning                                         valid            default
    ct    connect timeout, ms                             100..10000       5000
    rt    read timeout, ms (first byte, and between       100..15000       15000
          packets of the response)
    tt    total time for every attempt together, ms       100..15000       15000
    rc    retry count (attempts after the first)          0..5             1
    rp    retry policy: failures worth a retry            ct,rt,4xx,5xx,all  ct
    e     egress edge location(s), comma separated        edge names       (any)
    sni   use TLS Server Name Indication                  y, n             (always)

A URL that names `rc` or `rp` (with a value that can be used) decides how many tries a callback gets:
1 + rc, as on Twilio, and the outbox does not deliver it again later (see outbox.py).

A value that cannot be used does not fail the webhook: it is noted as an `OverrideWarning` (with
Twilio's error code where Twilio has one: 11243 retry policy invalid, 11240 edge location invalid)
and the default, or the nearest bound for an out-of-range number, is used instead. Callgate has one
egress and always sends SNI for host names, so `e` and `sni` are parsed and kept but change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

# name: (min, max, default), the documented bounds
_BOUNDS: dict[str, tuple[int, int, int]] = {
    "ct": (100, 10_000, 5_000),
    "rt": (100, 15_000, 15_000),
    "tt": (100, 15_000, 15_000),
    "rc": (0, 5, 1),
}
RETRY_POLICIES = ("ct", "rt", "4xx", "5xx", "all")
DEFAULT_RETRY_POLICY = frozenset({"ct"})
_EDGE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

# Twilio error 11243 "HTTP retry policy is invalid"; 11240 "HTTP connection edge location is invalid"
RETRY_POLICY_INVALID = 11243
EDGE_LOCATION_INVALID = 11240


@dataclass(frozen=True, slots=True)
class OverrideWarning:
    """A connection override that was not applied as written (Twilio's code where it has one)."""

    code: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Overrides:
    """The connection settings of one webhook URL: Twilio's defaults unless its fragment says otherwise."""

    connect_timeout_ms: int = 5_000
    read_timeout_ms: int = 15_000
    total_timeout_ms: int = 15_000
    retry_count: int = 1
    retry_policy: frozenset[str] = DEFAULT_RETRY_POLICY
    edges: tuple[str, ...] = ()
    sni: bool | None = None
    #: the fragment set rc or rp: these tries are all a callback gets (no later deliveries)
    tries_given: bool = False

    def retries_on(self, failure: str) -> bool:
        """Whether a failure of this kind ("ct", "rt", "4xx", "5xx") is retried."""
        return failure in self.retry_policy or "all" in self.retry_policy

    @classmethod
    def parse(cls, fragment: str) -> tuple[Overrides, tuple[OverrideWarning, ...]]:
        """The overrides of a URL fragment (without its "#"), and what could not be applied."""
        values: dict[str, int] = {}
        warnings: list[OverrideWarning] = []
        policy = DEFAULT_RETRY_POLICY
        policy_given = False
        edges: tuple[str, ...] = ()
        sni: bool | None = None
        for pair in fragment.split("&"):
            if not pair:
                continue
            name, _, raw = pair.partition("=")
            value = unquote(raw).strip()
            if name in _BOUNDS:
                number = _number(name, value, warnings)
                if number is not None:
                    values[name] = number
            elif name == "rp":
                given = _policy(value, warnings)
                policy = given or DEFAULT_RETRY_POLICY
                policy_given = given is not None
            elif name == "e":
                edges = _edges(value, warnings)
            elif name == "sni":
                if value in ("y", "n"):
                    sni = value == "y"
                else:
                    warnings.append(OverrideWarning(None, f"sni must be y or n, not {value!r}; ignored"))
            else:
                warnings.append(OverrideWarning(None, f"unknown connection override {name!r}; ignored"))
        defaults = cls()
        overrides = cls(
            connect_timeout_ms=values.get("ct", defaults.connect_timeout_ms),
            read_timeout_ms=values.get("rt", defaults.read_timeout_ms),
            total_timeout_ms=values.get("tt", defaults.total_timeout_ms),
            retry_count=values.get("rc", defaults.retry_count),
            retry_policy=policy,
            edges=edges,
            sni=sni,
            tries_given=policy_given or "rc" in values,
        )
        return overrides, tuple(warnings)

    def serialize(self) -> str:
        """The fragment (without "#") that parses back to these overrides: what differs from the defaults."""
        defaults = Overrides()
        pairs: list[str] = []
        for name, mine, default in (
            ("ct", self.connect_timeout_ms, defaults.connect_timeout_ms),
            ("rt", self.read_timeout_ms, defaults.read_timeout_ms),
            ("tt", self.total_timeout_ms, defaults.total_timeout_ms),
            ("rc", self.retry_count, defaults.retry_count),
        ):
            if mine != default:
                pairs.append(f"{name}={mine}")
        if self.retry_policy != defaults.retry_policy:
            pairs.append("rp=" + ",".join(p for p in RETRY_POLICIES if p in self.retry_policy))
        elif self.tries_given and self.retry_count == defaults.retry_count:
            pairs.append(f"rc={self.retry_count}")  # rc=1 written out: the tries stay given
        if self.edges:
            pairs.append("e=" + ",".join(self.edges))
        if self.sni is not None:
            pairs.append("sni=" + ("y" if self.sni else "n"))
        return "&".join(pairs)


def _number(name: str, value: str, warnings: list[OverrideWarning]) -> int | None:
    low, high, default = _BOUNDS[name]
    if not (value.isascii() and value.isdigit()):
        warnings.append(
            OverrideWarning(None, f"{name} must be a whole number, not {value!r}; using {default}")
        )
        return None
    number = int(value)
    clamped = min(max(number, low), high)
    if clamped != number:
        warnings.append(OverrideWarning(None, f"{name}={number} is outside {low}..{high}; using {clamped}"))
    return clamped


def _policy(value: str, warnings: list[OverrideWarning]) -> frozenset[str] | None:
    """The retry policy of an rp value, or None if it names none that can be used."""
    tokens = [t.strip().lower() for t in value.split(",") if t.strip()]
    bad = [t for t in tokens if t not in RETRY_POLICIES]
    if bad:
        warnings.append(
            OverrideWarning(RETRY_POLICY_INVALID, f"unknown retry policy {', '.join(bad)} in rp={value!r}")
        )
    good = frozenset(t for t in tokens if t in RETRY_POLICIES)
    if not good:
        if not bad:
            warnings.append(OverrideWarning(RETRY_POLICY_INVALID, "rp names no retry policy"))
        return None
    return good


def _edges(value: str, warnings: list[OverrideWarning]) -> tuple[str, ...]:
    tokens = [t.strip().lower() for t in value.split(",") if t.strip()]
    bad = [t for t in tokens if not _EDGE.fullmatch(t)]
    if bad or not tokens:
        warnings.append(OverrideWarning(EDGE_LOCATION_INVALID, f"invalid edge location in e={value!r}"))
    return tuple(t for t in tokens if _EDGE.fullmatch(t))


@dataclass(frozen=True, slots=True)
class WebhookUrl:
    """A configured webhook URL split into the URL that is requested and its connection overrides."""

    url: str
    overrides: Overrides = field(default_factory=Overrides)
    warnings: tuple[OverrideWarning, ...] = ()

    @classmethod
    def parse(cls, configured: str) -> WebhookUrl:
        url, hashmark, fragment = configured.partition("#")
        if not hashmark:
            return cls(url)
        overrides, warnings = Overrides.parse(fragment)
        return cls(url, overrides, warnings)

    def serialize(self) -> str:
        fragment = self.overrides.serialize()
        return f"{self.url}#{fragment}" if fragment else self.url
