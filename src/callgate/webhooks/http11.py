"""A small HTTP/1.1 client for webhooks: a keep-alive pool of asyncio connections, httptools' parser.

Webhooks are small requests with small answers, many a second: httpx (its client, models and
httpcore's pool over h11) cost a large share of the engine's CPU time per call. This does only
what a webhook needs, with the same behaviour where it matters:

- connections go only to the addresses `HostGuard.resolve` approves at connect time (a DNS
  answer that changes between the check and the connection is refused), TLS with SNI and the
  certificate checked against the host name;
- kept-alive connections are reused for at most `keepalive_s` idle seconds (under the common
  server idle timeouts, so that a connection is rarely reused just as the server closes it), and a
  request on a reused connection that the server had closed goes again, once, on a new one;
- at most `max_connections` at a time (waiting for one counts against the connect timeout);
- the connect timeout bounds the name lookup, the TCP and TLS handshakes; the read timeout bounds
  each wait for more of the response;
- the body is read up to `limit` bytes: a longer one is cut there (`overflow`) and its connection
  closed without reading the rest.

Failures raise httpx's exception classes, with the OS or TLS error as their cause, so callers can
classify them as before.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import httptools
import httpx

from callgate.webhooks.ssrf import HostGuard


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case; repeated headers joined with ", "
    body: bytes
    overflow: bool  # the body was longer than the limit and was cut there


class _Stale(Exception):
    """A reused connection was closed by the server before any of the response arrived."""


class _Connection(asyncio.Protocol):
    def __init__(self, key: tuple[str, str, int]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._begin(0)

    def _begin(self, limit: int) -> None:
        self._limit = limit
        self._headers: list[tuple[str, str]] = []
        self._body = bytearray()
        self._status = 0
        self._headers_done = False
        self._complete = False
        self._keep_alive = False
        self._overflow = False
        self._received = False
        self._error: Exception | None = None
        self._busy = limit > 0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # nothing asked: a server that talks out of turn is not reused
            self._close()
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._error = httpx.RemoteProtocolError(f"invalid HTTP response: {exc}")
            self._close()
        self._wake()

    def eof_received(self) -> bool:
        self._ended()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    def _ended(self, exc: Exception | None = None) -> None:
        self.closed = True
        if self._busy and not (self._complete or self._overflow) and self._error is None:
            if self._headers_done and self._until_close():
                self._complete = True  # a body delimited by the end of the connection
            elif not self._received:
                self._error = _Stale()
            else:
                error = httpx.RemoteProtocolError("the server closed the connection mid-response")
                error.__cause__ = exc
                self._error = error
        self._wake()

    def _until_close(self) -> bool:
        names = {name for name, _ in self._headers}
        return "content-length" not in names and "transfer-encoding" not in names

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if self._overflow:
            return
        room = self._limit - len(self._body)
        if len(body) > room:
            self._body += body[:room]
            self._overflow = True
            self._close()  # the rest is never read
            return
        self._body += body

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the final one follows.
            self._headers, self._body, self._status, self._headers_done = [], bytearray(), 0, False
            return
        self._complete = True
        # Asked now: once feed_data returns, the parser has moved on to the next message.
        self._keep_alive = self._parser.should_keep_alive()

    # the exchange

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes, read_timeout: float, limit: int) -> Response:
        assert self.transport is not None
        self._begin(max(1, limit))
        if self.closed or self.transport.is_closing():
            raise _Stale()
        self.transport.write(request)
        loop = asyncio.get_running_loop()
        while not (self._complete or self._overflow or self._error is not None):
            self._waiter = loop.create_future()
            try:
                async with asyncio.timeout(read_timeout):
                    await self._waiter
            except TimeoutError:
                self._close()
                raise httpx.ReadTimeout(f"no response data for {read_timeout:g} s") from None
            finally:
                self._waiter = None
        self._busy = False
        if self._error is not None:
            raise self._error
        headers: dict[str, str] = {}
        for name, value in self._headers:
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if not self._complete or not self._keep_alive:
            self._close()
        return Response(self._status, headers, bytes(self._body), self._overflow)


class Http11Pool:
    """Keep-alive connections by (scheme, host, port), opened through `guard`."""

    def __init__(
        self,
        guard: HostGuard,
        *,
        verify: ssl.SSLContext | str | bool = True,
        keepalive_s: float = 2.0,
        max_connections: int = 100,
        max_idle_per_host: int = 100,
    ) -> None:
        self._guard = guard
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._keepalive_s = keepalive_s
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}

    async def request(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
        limit: int,
    ) -> Response:
        """One exchange; raises httpx's exceptions (and the guard's) on failure."""
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, host, port)
        lines = [f"{method} {url.raw_path.decode('ascii')} HTTP/1.1", f"Host: {url.netloc.decode('ascii')}"]
        lines += [f"{name}: {value}" for name, value in headers]
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        try:
            async with asyncio.timeout(connect_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection within {connect_timeout:g} s") from None
        try:
            conn = self._take_idle(key)
            if conn is not None:
                try:
                    response = await conn.exchange(wire, read_timeout, limit)
                except _Stale:
                    conn = None  # closed by the server while idle: once more on a new connection
                else:
                    self._give_back(conn)
                    return response
            conn = await self._connect(url.scheme, host, port, connect_timeout)
            try:
                response = await conn.exchange(wire, read_timeout, limit)
            except _Stale:
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering"
                ) from None
            self._give_back(conn)
            return response
        finally:
            self._slots.release()

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self._keepalive_s:
                return conn
            conn._close()
        return None

    def _give_back(self, conn: _Connection) -> None:
        if conn.closed:
            return
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self._max_idle:
            conn._close()
            return
        conn.idle_since = asyncio.get_running_loop().time()
        idle.append(conn)

    async def _connect(self, scheme: str, host: str, port: int, timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        key = (scheme, host, port)
        tls = self._ssl if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.resolve(host, port)
                error: Exception | None = None
                for address in addresses:  # the very addresses just checked: no second lookup
                    try:
                        _, conn = await loop.create_connection(
                            lambda: _Connection(key),
                            str(address),
                            port,
                            ssl=tls,
                            server_hostname=host if tls is not None else None,
                        )
                        return conn
                    except (OSError, ssl.SSLError) as exc:
                        error = httpx.ConnectError(str(exc))
                        error.__cause__ = exc
                assert error is not None  # resolve() returns at least one address
                raise error
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} took more than {timeout:g} s") from None

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn._close()
        self._idle.clear()
