"""Which destinations a webhook may reach: no internal networks unless the operator allows them.

A webhook URL is written by a tenant, and Callgate fetches it from inside the operator's network, so
an unchecked URL reaches whatever the server can: the cloud metadata service (169.254.169.254), an
admin port on loopback, the office LAN. `HostGuard` refuses a destination when any address its host
resolves to is not a public unicast one:

    category     addresses                                              allowed by
    unspecified  0.0.0.0/8, ::                                          (never)
    loopback     127.0.0.0/8, ::1                                       allow_loopback (default on)
    link-local   169.254.0.0/16 (the metadata service), fe80::/10       (never)
    multicast    224.0.0.0/4, ff00::/8                                  (never)
    private      10/8, 172.16/12, 192.168/16 (RFC 1918), fc00::/7 (ULA) allow_private
    shared       100.64.0.0/10 (RFC 6598, carrier-grade NAT)            allow_private
    reserved     every other non-global range (240/4, documentation,    (never)
                 benchmarking, fec0::/10, ...)

An IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) IPv6 address is judged by its IPv4
address. `allowed_hosts` names hosts, or CIDR blocks, that pass whatever they resolve to.

Checking a name and then letting the HTTP library resolve it again would let a DNS answer change in
between (DNS rebinding). So the check is made where the connection is made: the webhook client's
real transport (`transport.Http11Transport`, over `http11.Http11Pool`) and `GuardedNetworkBackend`
(the httpcore network backend that fetches `<Play>` audio) resolve the host once, check every
address, and connect to one of those very addresses. TLS still verifies the certificate against the
host name, and SNI carries the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: (host, port) -> the addresses it resolves to, as strings (what getaddrinfo gives)
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_PRIVATE: tuple[IPNetwork, ...] = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)
_DESCRIPTION = {
    "unspecified": "an unspecified address",
    "loopback": "a loopback address",
    "link-local": "a link-local address",
    "multicast": "a multicast address",
    "private": "a private address",
    "shared": "a shared (carrier-grade NAT) address",
    "reserved": "a reserved address",
}


class BlockedDestination(Exception):
    """The webhook may not be sent there; `reason` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvableHost(Exception):
    """The host name does not resolve (Twilio error 11210, HTTP bad host name)."""


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def category(address: IPAddress) -> str | None:
    """Why `address` is not public unicast (a key of the table above), or None when it is."""
    address = _embedded_ipv4(address)
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if any(address in network for network in _PRIVATE):
        return "private"
    if address in _SHARED:
        return "shared"
    if address.is_reserved or not address.is_global:
        return "reserved"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "reserved"
    return None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class HostGuard:
    """Refuses webhook destinations on internal networks (see the module's table)."""

    def __init__(
        self,
        *,
        allow_loopback: bool = True,
        allow_private: bool = False,
        allowed_hosts: Iterable[str] = (),
        resolver: Resolver | None = None,
    ) -> None:
        self.allow_loopback = allow_loopback
        self.allow_private = allow_private
        self._names: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in allowed_hosts:
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self._names.add(entry.strip().lower().rstrip("."))
        self._resolve = resolver or _getaddrinfo

    def refusal(self, address: IPAddress) -> str | None:
        """Why a connection to `address` is refused ("a private address"), or None when it is allowed."""
        if any(a in network for a in {address, _embedded_ipv4(address)} for network in self._networks):
            return None
        kind = category(address)
        if kind is None:
            return None
        if kind == "loopback" and self.allow_loopback:
            return None
        if kind in ("private", "shared") and self.allow_private:
            return None
        return _DESCRIPTION[kind]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of `host`, every one of them allowed; IP literals are taken as they are.

        Raises BlockedDestination when any address is refused, UnresolvableHost when there is none.
        """
        host = host.strip("[]")
        try:
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
            literal = True
        except ValueError:
            addresses, literal = await self._lookup(host, port), False
            if host.lower().rstrip(".") in self._names:
                return addresses
        for address in addresses:
            reason = self.refusal(address)
            if reason is not None:
                if literal:
                    raise BlockedDestination(f"{host} is {reason}")
                raise BlockedDestination(f"{host} resolves to {address}, {reason}")
        return addresses

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        try:
            found = await self._resolve(host, port)
        except socket.gaierror as exc:
            raise UnresolvableHost(f"{host} does not resolve: {exc.strerror or exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(a.split("%")[0]) for a in found))
        if not addresses:
            raise UnresolvableHost(f"{host} resolves to no address")
        return addresses

    async def check(self, url: str) -> list[IPAddress]:
        """The allowed addresses of the URL's host (raises as `resolve` does); only http and https pass."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise BlockedDestination(f"{scheme or 'a URL without a'} scheme is not allowed for webhooks")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise BlockedDestination(f"invalid port in {url!r}") from None
        if not parts.hostname:
            raise BlockedDestination(f"no host in {url!r}")
        return await self.resolve(parts.hostname, port)


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses the guard approved just now."""

    def __init__(self, guard: HostGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await self._guard.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        error: Exception | None = None
        for address in addresses:  # the very addresses just checked: no second lookup
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                return await self._inner.connect_tcp(
                    str(address), port, remaining, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # resolve() returns at least one address
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedDestination("a Unix socket is not a webhook destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose connections go through `GuardedNetworkBackend` (no proxies from the env):
    what fetches `<Play>` audio (webhooks have their own client, `http11.Http11Pool`)."""

    def __init__(self, guard: HostGuard, *, verify: ssl.SSLContext | str | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx has no parameter for the pool's network backend, so the pool is built again with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            # Under the common server idle timeouts (uvicorn 5 s, nginx 75 s), so that a connection is
            # rarely reused just as the server closes it.
            keepalive_expiry=2.0,
            network_backend=GuardedNetworkBackend(guard),
        )
