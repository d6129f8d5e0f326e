"""Where a call goes: a `sip:` URI directly, an E.164 number through the trunk whose prefix matches
best, and any other number to the built-in sandbox network. Pure: no DNS, no sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.uri import SipUri

DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}


@dataclass(frozen=True, slots=True)
class Trunk:
    """An outbound SIP trunk: numbers starting with one of `prefixes` are sent to `proxy`."""

    name: str
    proxy: str  # a sip: URI, e.g. "sip:sip.carrier.example:5060;transport=tcp"
    prefixes: tuple[str, ...] = ("+",)
    username: str | None = None
    password: str | None = None
    #: its BYOC trunk sid (`BY` + 32 hex digits): a call's `Byoc` names the trunk that carries it
    sid: str | None = None
    #: the account ids that may name it by its sid (empty: every account)
    accounts: frozenset[str] = frozenset()

    def serves(self, account_id: str) -> bool:
        return not self.accounts or account_id in self.accounts


def byoc_trunk(trunks: Sequence[Trunk], sid: str, account_id: str) -> Trunk | None:
    """The trunk whose BYOC sid is `sid` (in any case) and that `account_id` may use, if any."""
    low = sid.lower()
    for trunk in trunks:
        if trunk.sid is not None and trunk.sid.lower() == low and trunk.serves(account_id):
            return trunk
    return None


@dataclass(frozen=True, slots=True)
class Route:
    """How to place one call: the Request-URI, the next hop and its transport, the credentials."""

    request_uri: str
    host: str
    port: int
    transport: str
    trunk: str | None = None
    credentials: tuple[str, str] | None = None
    #: whether the URI named the port; if not, and the host is a name, DNS SRV may name it (RFC 3263)
    explicit_port: bool = True


class Unroutable(Exception):
    """No way to reach this target (a `client:` identity, a malformed URI)."""


def _hop(uri: SipUri) -> tuple[str, int, str]:
    transport = uri.transport
    host = uri.host[1:-1] if uri.host.startswith("[") else uri.host
    return host, uri.port or DEFAULT_PORTS.get(transport, 5060), transport


def route(
    target: str, trunks: Sequence[Trunk], sandbox: tuple[str, int], byoc: Trunk | None = None
) -> Route:
    """The route for `target` (the call's To); a phone number goes through the `byoc` trunk if one is
    named (whatever its prefixes), as Twilio's Byoc parameter routes it."""
    if target.lower().startswith(("sip:", "sips:")):
        try:
            uri = SipUri.parse(target)
        except RemoteProtocolError as exc:
            raise Unroutable(f"{target}: {exc.reason}") from None
        host, port, transport = _hop(uri)
        return Route(target, host, port, transport, explicit_port=uri.port is not None)
    if target.startswith("+"):
        matches = [
            (len(prefix), trunk) for trunk in trunks for prefix in trunk.prefixes if target.startswith(prefix)
        ]
        if byoc is not None:
            matches = [(0, byoc)]
        if matches:
            trunk = max(matches, key=lambda item: item[0])[1]
            proxy = SipUri.parse(trunk.proxy)
            host, port, transport = _hop(proxy)
            credentials = (trunk.username, trunk.password or "") if trunk.username else None
            request_uri = SipUri(
                host=proxy.host, user=target, port=proxy.port, scheme=proxy.scheme
            ).serialize()
            return Route(request_uri, host, port, transport, trunk=trunk.name, credentials=credentials,
                         explicit_port=proxy.port is not None)  # fmt: skip
        host, port = sandbox
        return Route(f"sip:{target}@{host}:{port}", host, port, "udp", trunk=None)
    raise Unroutable(f"{target}: no route (client identities are not reachable over SIP yet)")
