"""What the webhook client sends its HTTP exchanges through: a small Protocol and its two implementations.

`WebhookClient` builds each request (URL as sent, headers, body, timeouts, the body limit) and judges
the answer; a `Transport` only carries one exchange:

- `Http11Transport` is the real one: every destination passes the `HostGuard` before anything is
  sent (the URL's host resolved and checked), then `http11.Http11Pool` connects only to the
  addresses the guard approves at connect time (see ssrf.py);
- `MockTransport` hands each request to a function, as httpx's `MockTransport` does, so that tests of
  delivery, retries, redirects and overrides run with no socket.

A transport raises httpx's exception classes (`httpx.ConnectTimeout`, `httpx.ReadTimeout`,
`httpx.ConnectError` with the OS or TLS error as its cause, ...) and the guard's (`BlockedDestination`,
`UnresolvableHost`) on failure; the client turns them into Twilio's debugger codes.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from callgate.webhooks.http11 import Http11Pool, Response
from callgate.webhooks.ssrf import HostGuard

__all__ = ["Http11Transport", "MockTransport", "Request", "Response", "Transport"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP exchange to make: `headers` go on the wire in this order, after the Host header."""

    method: str
    url: httpx.URL  # no fragment
    headers: list[tuple[str, str]]
    body: bytes
    connect_timeout: float  # seconds
    read_timeout: float  # seconds, each wait for more of the response
    limit: int  # bytes of the response body to read, at most


class Transport(Protocol):
    """Carries one exchange; raises httpx's exceptions (and the guard's) on failure."""

    async def handle(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


class Http11Transport:
    """The real transport: the guard checks each destination, then a pool of kept-alive connections."""

    def __init__(self, guard: HostGuard | None = None, *, verify: ssl.SSLContext | str | bool = True) -> None:
        self.guard = guard or HostGuard()
        self._verify = verify
        self._pool: Http11Pool | None = None  # made on the loop that uses it

    async def handle(self, request: Request) -> Response:
        await self.guard.check(str(request.url))  # refused here, before anything is sent
        if self._pool is None:
            self._pool = Http11Pool(self.guard, verify=self._verify)
        # A kept-alive connection the server closed as we reused it (its idle timeout and ours
        # crossed) is sent again once, on a new connection (see Http11Pool).
        return await self._pool.request(
            request.method,
            request.url,
            request.headers,
            request.body,
            connect_timeout=request.connect_timeout,
            read_timeout=request.read_timeout,
            limit=request.limit,
        )

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


#: a MockTransport's handler: the request -> the response (or an awaitable of it); it may raise
Handler = Callable[[Request], Response | Awaitable[Response]]


class MockTransport:
    """A transport that answers every request with `handler(request)`, no network involved.

    The body a handler returns is cut at the request's `limit` (`overflow` set), as a real
    connection reads no further.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def handle(self, request: Request) -> Response:
        answer = self.handler(request)
        response = answer if isinstance(answer, Response) else await answer
        if len(response.body) > request.limit:
            return Response(response.status, response.headers, response.body[: request.limit], True)
        return response

    async def aclose(self) -> None:
        return None
