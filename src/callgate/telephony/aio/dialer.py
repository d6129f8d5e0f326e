"""The engine's door to SIP: one UDP and one TCP endpoint, the routing table, name resolution.

dialer = await Dialer.open("127.0.0.1", 0, trunks=settings.sip_trunks(), sandbox=("127.0.0.1", 5080))
leg = await dialer.leg("+14155550100", from_user="+14155550199")   # a CallLeg, not yet dialled
result = await leg.dial(timeout_s=30)

`leg` routes the call's To (`callgate.telephony.routing.route`): a `sip:` URI directly, an E.164
number through its trunk (the trunk's proxy sees every request of the call, and its credentials
answer challenges unless the call brings its own), anything else to the sandbox. Host names are
resolved as RFC 3263 says for a known transport: a URI without a port looks up the SRV records
`_sip._udp.<host>` (or `_tcp`), in priority order with weighted choice, then the target's address;
without SRV records (or with a port) the name's A/AAAA records on the default or given port. NAPTR is
not consulted (the transport comes from the URI); TLS is not offered yet.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception

from callgate.telephony.aio.endpoint import SipEndpoint, is_address, resolve
from callgate.telephony.aio.leg import CallLeg
from callgate.telephony.aio.tcp import TcpSipEndpoint, open_udp_and_tcp
from callgate.telephony.routing import Route, Trunk, Unroutable, route
from callgate.telephony.sip.layer import Address


@dataclass
class Dialer:
    udp: SipEndpoint
    tcp: TcpSipEndpoint | None
    trunks: Sequence[Trunk]
    sandbox: Address
    #: the DNS resolver for SRV lookups (None: the system's, from /etc/resolv.conf)
    resolver: dns.asyncresolver.Resolver | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        trunks: Sequence[Trunk] = (),
        sandbox: Address = ("127.0.0.1", 5080),
        resolver: dns.asyncresolver.Resolver | None = None,
    ) -> Dialer:
        udp, tcp = await open_udp_and_tcp(host, port)
        return cls(udp, tcp, trunks, sandbox, resolver)

    def close(self) -> None:
        self.udp.close()
        if self.tcp is not None:
            self.tcp.close()

    def route(self, to: str, byoc: Trunk | None = None) -> Route:
        """Where `to` goes; `Unroutable` for what SIP cannot reach (a client identity, TLS for now)."""
        found = route(to, self.trunks, self.sandbox, byoc)
        if found.transport not in ("udp", "tcp") or (found.transport == "tcp" and self.tcp is None):
            raise Unroutable(f"{to}: transport {found.transport} is not available")
        return found

    async def leg(
        self,
        to: str,
        *,
        from_user: str,
        caller_name: str | None = None,
        credentials: tuple[str, str] | None = None,
        extra_headers: tuple[tuple[str, str], ...] = (),
        byoc: Trunk | None = None,
    ) -> CallLeg:
        """A call leg to `to`, ready to `dial` (through the `byoc` trunk, if given). Raises
        `Unroutable` (no route, or a name that does not resolve)."""
        found = self.route(to, byoc)
        endpoint: SipEndpoint = self.tcp if found.transport == "tcp" and self.tcp is not None else self.udp
        host, port = found.host, found.port
        if not found.explicit_port and not is_address(host):
            host, port = await self._srv(host, found.transport, port)
        try:
            destination = await resolve(host, port, endpoint)
        except OSError as exc:
            raise Unroutable(f"{host}: {exc.strerror or exc}") from None
        return CallLeg(
            endpoint,
            target=found.request_uri,
            destination=destination,
            from_user=from_user,
            outbound_proxy=found.trunk is not None,
            caller_name=caller_name,
            credentials=credentials or found.credentials,
            extra_headers=extra_headers,
        )

    async def _srv(self, host: str, transport: str, default_port: int) -> tuple[str, int]:
        """RFC 3263 4.2 / RFC 2782: the SRV target to use, or (host, default_port) without records."""
        resolver = self.resolver or dns.asyncresolver.get_default_resolver()
        try:
            answer = await resolver.resolve(f"_sip._{transport}.{host}", "SRV")
        except (dns.exception.DNSException, OSError):
            return host, default_port
        records = [r for r in answer if str(r.target) != "."]
        if not records:
            return host, default_port
        best = min(r.priority for r in records)
        candidates = [r for r in records if r.priority == best]
        total = sum(r.weight for r in candidates)
        chosen = candidates[0]
        if total > 0:
            pick = random.uniform(0, total)
            for record in candidates:
                pick -= record.weight
                if pick <= 0:
                    chosen = record
                    break
        return str(chosen.target).rstrip("."), int(chosen.port)
