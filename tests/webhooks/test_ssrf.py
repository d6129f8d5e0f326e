"""The SSRF guard: IP literals of every class (no DNS), names through a resolver, and the network backend
that connects only to the addresses it has just checked. Nothing here opens a socket."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import httpcore
import pytest

from callgate.webhooks.ssrf import (
    BlockedDestination,
    GuardedNetworkBackend,
    HostGuard,
    UnresolvableHost,
    category,
)

pytestmark = pytest.mark.anyio


def resolver(table: dict[str, Sequence[str]]):
    """A resolver for names of the test's own (the guard never asks DNS for them)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(table[host])

    return resolve


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("fec0::1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "private"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_category(address, kind):
    assert category(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("https://172.16.5.4:8443/", "172.16.5.4 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://[fd12:3456::1]/", "fd12:3456::1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", ":: is an unspecified address"),
        ("http://239.1.1.1/", "239.1.1.1 is a multicast address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared (carrier-grade NAT) address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1 is a private address"),
    ],
)
async def test_internal_literals_are_refused_by_default(url, message):
    with pytest.raises(BlockedDestination) as caught:
        await HostGuard().check(url)
    assert caught.value.reason == message


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        ("http://[::1]/", "::1"),
        ("https://8.8.8.8/", "8.8.8.8"),
        ("https://[2606:4700:4700::1111]/", "2606:4700:4700::1111"),
    ],
)
async def test_public_and_loopback_literals_pass_by_default(url, address):
    assert await HostGuard().check(url) == [ipaddress.ip_address(address)]


async def test_loopback_can_be_refused_and_a_name_for_it_too():
    guard = HostGuard(allow_loopback=False)
    with pytest.raises(BlockedDestination, match=r"^127\.0\.0\.1 is a loopback address$"):
        await guard.check("http://127.0.0.1/")
    with pytest.raises(BlockedDestination, match=r"^::ffff:127\.0\.0\.1 is a loopback address$"):
        await guard.check("http://[::ffff:127.0.0.1]/")
    with pytest.raises(
        BlockedDestination, match=r"^localhost resolves to (127\.0\.0\.1|::1), a loopback address$"
    ):
        await guard.check("http://localhost:8080/hook")  # /etc/hosts, through the real getaddrinfo


async def test_localhost_passes_while_loopback_is_allowed():
    addresses = await HostGuard().check("http://localhost/hook")
    assert addresses and all(a.is_loopback for a in addresses)


async def test_private_allowed_still_refuses_link_local_and_metadata():
    guard = HostGuard(allow_private=True)
    assert await guard.check("http://10.0.0.1/") == [ipaddress.ip_address("10.0.0.1")]
    assert await guard.check("http://100.64.1.2/") == [ipaddress.ip_address("100.64.1.2")]
    assert await guard.check("http://[fd00::5]/") == [ipaddress.ip_address("fd00::5")]
    with pytest.raises(BlockedDestination, match="169.254.169.254 is a link-local address"):
        await guard.check("http://169.254.169.254/")


async def test_allowed_hosts_by_cidr_and_by_name():
    guard = HostGuard(
        allowed_hosts=["10.1.2.0/24", "Billing.Internal.", "169.254.10.10"],
        resolver=resolver({"billing.internal": ["10.9.9.9", "fd00::9"], "other.internal": ["10.1.2.7"]}),
    )
    assert await guard.check("http://10.1.2.3/") == [ipaddress.ip_address("10.1.2.3")]
    assert await guard.check("http://[::ffff:10.1.2.3]/") == [ipaddress.ip_address("::ffff:10.1.2.3")]
    assert await guard.check("http://169.254.10.10/") == [ipaddress.ip_address("169.254.10.10")]
    with pytest.raises(BlockedDestination, match="10.1.3.1 is a private address"):
        await guard.check("http://10.1.3.1/")
    assert await guard.check("https://billing.internal/cb") == [
        ipaddress.ip_address("10.9.9.9"),
        ipaddress.ip_address("fd00::9"),
    ]
    assert await guard.check("https://other.internal/cb") == [ipaddress.ip_address("10.1.2.7")]


async def test_a_name_is_refused_when_any_of_its_addresses_is():
    guard = HostGuard(resolver=resolver({"mixed.test": ["93.184.216.34", "10.0.0.8"]}))
    with pytest.raises(BlockedDestination, match=r"^mixed.test resolves to 10.0.0.8, a private address$"):
        await guard.check("https://mixed.test/")


async def test_decimal_and_short_forms_are_judged_by_what_they_resolve_to():
    guard = HostGuard(allow_loopback=False, resolver=resolver({"2130706433": ["127.0.0.1"]}))
    with pytest.raises(BlockedDestination, match="2130706433 resolves to 127.0.0.1, a loopback address"):
        await guard.check("http://2130706433/")


async def test_a_name_that_does_not_resolve():
    with pytest.raises(UnresolvableHost, match="^nowhere.test does not resolve: Name or service not known$"):
        await HostGuard(resolver=resolver({})).check("http://nowhere.test/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/file", "ftp scheme is not allowed for webhooks"),
        ("file:///etc/passwd", "file scheme is not allowed for webhooks"),
        ("gopher://127.0.0.1:6379/_INFO", "gopher scheme is not allowed for webhooks"),
        ("//example.com/x", "a URL without a scheme is not allowed for webhooks"),
        ("http:///path-only", "no host in 'http:///path-only'"),
        ("http://example.com:99999/", "invalid port in 'http://example.com:99999/'"),
    ],
)
async def test_only_http_urls_with_a_host_pass(url, message):
    with pytest.raises(BlockedDestination) as caught:
        await HostGuard().check(url)
    assert caught.value.reason == message


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the socket layer: records where a connection would go."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.connects: list[tuple[str, int]] = []
        self.refuse = refuse

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connects.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError("refused")
        return object()


async def test_backend_connects_to_the_checked_address_not_the_name():
    inner = RecordingBackend()
    backend = GuardedNetworkBackend(HostGuard(resolver=resolver({"app.test": ["93.184.216.34"]})), inner)
    await backend.connect_tcp("app.test", 443, timeout=1.0)
    assert inner.connects == [("93.184.216.34", 443)]


async def test_backend_tries_each_checked_address_in_turn():
    inner = RecordingBackend(refuse=frozenset({"2606:2800:220:1::1"}))
    guard = HostGuard(resolver=resolver({"app.test": ["2606:2800:220:1::1", "93.184.216.34"]}))
    await GuardedNetworkBackend(guard, inner).connect_tcp("app.test", 80)
    assert inner.connects == [("2606:2800:220:1::1", 80), ("93.184.216.34", 80)]


async def test_backend_refuses_before_connecting():
    inner = RecordingBackend()
    backend = GuardedNetworkBackend(HostGuard(resolver=resolver({"evil.test": ["169.254.169.254"]})), inner)
    with pytest.raises(
        BlockedDestination, match="evil.test resolves to 169.254.169.254, a link-local address"
    ):
        await backend.connect_tcp("evil.test", 80)
    with pytest.raises(BlockedDestination, match="a Unix socket is not a webhook destination"):
        await backend.connect_unix_socket("/var/run/docker.sock")
    assert inner.connects == []
