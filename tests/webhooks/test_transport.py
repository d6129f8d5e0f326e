"""The transports: the real one checks the destination before it sends; the mock answers from a function."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest

from callgate.webhooks.http11 import Http11Pool
from callgate.webhooks.ssrf import BlockedDestination, HostGuard, UnresolvableHost
from callgate.webhooks.transport import Http11Transport, MockTransport, Request, Response

pytestmark = pytest.mark.anyio


def request(url: str, limit: int = 65536) -> Request:
    return Request("GET", httpx.URL(url), [("Accept", "*/*")], b"", 1.0, 1.0, limit)


def names(table: dict[str, Sequence[str]]):
    async def resolve(host: str, port: int) -> Sequence[str]:
        return table.get(host, ())

    return resolve


async def test_the_real_transport_refuses_a_destination_before_any_connection(monkeypatch):
    connects: list[str] = []

    async def watched(pool: Http11Pool, scheme: str, host: str, port: int, timeout: float) -> object:
        connects.append(host)
        raise AssertionError("no connection may be opened")

    monkeypatch.setattr(Http11Pool, "_connect", watched)
    transport = Http11Transport(HostGuard(resolver=names({"inside.example": ["10.1.2.3"]})))
    with pytest.raises(BlockedDestination, match="inside.example resolves to 10.1.2.3, a private address"):
        await transport.handle(request("http://inside.example/hook"))
    with pytest.raises(BlockedDestination, match="ftp scheme is not allowed"):
        await transport.handle(request("ftp://inside.example/hook"))
    with pytest.raises(UnresolvableHost):
        await transport.handle(request("http://nowhere.example/hook"))
    await transport.aclose()
    assert connects == []


async def test_the_mock_transport_cuts_the_body_at_the_limit_as_a_connection_would():
    async def handler(req: Request) -> Response:
        return Response(200, {"content-type": "text/plain"}, b"abcdef", False)

    transport = MockTransport(handler)
    assert await transport.handle(request("http://a.example/", limit=4)) == Response(
        200, {"content-type": "text/plain"}, b"abcd", True
    )
    assert (await transport.handle(request("http://a.example/", limit=6))).overflow is False
