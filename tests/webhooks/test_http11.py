"""Http11Pool against a raw TCP server on loopback that answers with canned bytes: the HTTP/1.1
framings a webhook receiver may use, interim answers, closes, and what is reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from callgate.webhooks.http11 import Http11Pool
from callgate.webhooks.ssrf import HostGuard

pytestmark = pytest.mark.anyio

TIMEOUT = 5.0


class Canned:
    """A server that reads one request at a time (up to the blank line and its Content-Length) and
    answers each with the next of `answers` (bytes, or None to close without answering)."""

    def __init__(self, answers: list[bytes | None], close_after: bool = False) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                answer = self.answers.pop(0)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[Canned]]]:
    servers: list[asyncio.Server] = []

    async def start(answers: list[bytes | None], **kw: bool) -> Canned:
        canned = Canned(answers, **kw)
        canned.server = await asyncio.start_server(canned.handle, "127.0.0.1", 0)
        servers.append(canned.server)
        return canned

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


async def idle_connections_closed(pool: Http11Pool) -> None:
    """Until the pool's kept-alive connections have seen the server close them (at most TIMEOUT)."""
    kept = [conn for idle in pool._idle.values() for conn in idle]
    assert kept, "the pool kept no connection alive"
    async with asyncio.timeout(TIMEOUT):
        while not all(conn.closed for conn in kept):
            await asyncio.sleep(0.005)  # polling the connections under a deadline


async def get(pool: Http11Pool, url: str, limit: int = 65536, body: bytes = b""):
    return await pool.request(
        "POST" if body else "GET",
        httpx.URL(url),
        [("Content-Length", str(len(body)))] if body else [],
        body,
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
        limit=limit,
    )


async def test_content_length_chunked_and_close_delimited_bodies(serve):
    canned = await serve(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/xml\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        ]
    )
    pool = Http11Pool(HostGuard())
    first = await get(pool, canned.base + "/a")
    second = await get(pool, canned.base + "/b")
    third = await get(pool, canned.base + "/c")
    assert (first.status, first.body, first.headers["content-type"]) == (200, b"hello", "text/xml")
    assert (second.status, second.body) == (200, b"abcdefg")
    assert (third.status, third.body) == (200, b"until the end")
    assert canned.connections == 1  # kept alive across the first two, closed by the third
    assert [r.split(b"\r\n")[0] for r in canned.requests] == [
        b"GET /a HTTP/1.1",
        b"GET /b HTTP/1.1",
        b"GET /c HTTP/1.1",
    ]
    await pool.aclose()


async def test_an_interim_answer_is_skipped_for_the_final_one(serve):
    canned = await serve(
        [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
         b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"]
    )  # fmt: skip
    pool = Http11Pool(HostGuard())
    response = await get(pool, canned.base + "/x", body=b"a=1")
    assert (response.status, response.body, "link" in response.headers) == (201, b"ok", False)
    await pool.aclose()


async def test_a_body_past_the_limit_is_cut_and_its_connection_not_reused(serve):
    canned = await serve(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", b"HTTP/1.1 204 No Content\r\n\r\n"]
    )
    pool = Http11Pool(HostGuard())
    cut = await get(pool, canned.base + "/big", limit=4)
    assert (cut.body, cut.overflow) == (b"0123", True)
    after = await get(pool, canned.base + "/next")
    assert after.status == 204
    assert canned.connections == 2
    await pool.aclose()


async def test_a_kept_alive_connection_the_server_closed_is_replaced_once(serve):
    # The server answers once per connection, then closes it: the pool's idle connection is dead
    # when the second request comes, and the request goes again on a new connection.
    canned = await serve(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"],
        close_after=True,
    )
    pool = Http11Pool(HostGuard())
    assert (await get(pool, canned.base + "/1")).body == b"1"
    await idle_connections_closed(pool)  # the server's FIN has arrived
    assert (await get(pool, canned.base + "/2")).body == b"2"
    assert canned.connections == 2
    await pool.aclose()


async def test_a_new_connection_closed_without_an_answer_is_a_protocol_error(serve):
    canned = await serve([None])
    pool = Http11Pool(HostGuard())
    with pytest.raises(httpx.RemoteProtocolError):
        await get(pool, canned.base + "/nothing")
    await pool.aclose()


async def test_garbage_is_a_protocol_error(serve):
    canned = await serve([b"SMTP ready\r\n\r\n"])
    pool = Http11Pool(HostGuard())
    with pytest.raises(httpx.RemoteProtocolError, match="invalid HTTP response"):
        await get(pool, canned.base + "/odd")
    await pool.aclose()


async def test_silence_is_a_read_timeout(serve):
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await asyncio.sleep(2)
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        pool = Http11Pool(HostGuard())
        with pytest.raises(httpx.ReadTimeout):
            await pool.request(
                "GET",
                httpx.URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"),
                [],
                b"",
                connect_timeout=TIMEOUT,
                read_timeout=0.2,
                limit=100,
            )
        await pool.aclose()
    finally:
        server.close()
        await server.wait_closed()


async def test_an_ipv6_literal_is_reached_with_its_host_header():
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6")
        await writer.drain()
        writer.close()

    try:
        server = await asyncio.start_server(answer, "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        port = server.sockets[0].getsockname()[1]
        pool = Http11Pool(HostGuard())
        response = await get(pool, f"http://[::1]:{port}/six")
        assert response.body == b"v6"
        assert f"Host: [::1]:{port}".encode() in seen[0].split(b"\r\n")
        await pool.aclose()
    finally:
        server.close()
        await server.wait_closed()
