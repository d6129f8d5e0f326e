"""The HTTP protocol of `callgate serve`: a response's head and body leave in one write."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from callgate.http_protocol import JoinedWritesProtocol, _JoinedWrites

pytestmark = pytest.mark.anyio


class Recorder:
    """A transport that records what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, chunks) -> None:
        self.writes.append(b"".join(chunks))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 8080) if name == "sockname" else default


HEAD = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n"


async def test_a_head_and_the_body_sent_in_the_same_turn_leave_in_one_write():
    raw = Recorder()
    joined = _JoinedWrites(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(HEAD)
    assert raw.writes == []
    joined.write(b"{}")
    assert raw.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)  # the end-of-turn flush was called off: nothing more leaves
    assert raw.writes == [HEAD + b"{}"]
    big = b"x" * 100_000
    joined.write(HEAD)
    joined.write(big)
    assert raw.writes[-1] == HEAD + big


async def test_a_head_without_its_body_in_the_turn_leaves_alone_at_the_end_of_the_turn():
    raw = Recorder()
    joined = _JoinedWrites(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(HEAD)
    await asyncio.sleep(0)
    assert raw.writes == [HEAD]
    joined.write(b"{}")
    assert raw.writes == [HEAD, b"{}"]


async def test_other_writes_pass_through_and_order_is_kept_on_close_and_writelines():
    raw = Recorder()
    joined = _JoinedWrites(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(b"0\r\n\r\n")  # not a head: at once
    assert raw.writes == [b"0\r\n\r\n"]
    joined.write(HEAD)
    joined.writelines([b"a", b"b"])
    assert raw.writes[1:] == [HEAD, b"ab"]
    joined.write(HEAD)
    joined.close()
    assert raw.writes[-1] == HEAD and raw.closed
    assert joined.get_extra_info("sockname") == ("127.0.0.1", 8080)  # the rest is the transport's


async def _slow_chunks() -> AsyncIterator[bytes]:
    yield b"one,"
    await asyncio.sleep(0.05)
    yield b"two"


async def _echo(request: Request) -> Response:
    return PlainTextResponse((await request.body()).decode() or "empty", status_code=201)


APP = Starlette(
    routes=[
        Route("/echo", _echo, methods=["GET", "POST", "HEAD"]),
        Route("/none", lambda request: Response(status_code=204)),
        Route("/stream", lambda request: StreamingResponse(_slow_chunks())),
    ]
)


async def test_served_responses_of_every_shape_arrive_whole():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(APP, host="127.0.0.1", port=port, http=JoinedWritesProtocol, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                assert not serving.done(), "the server stopped before it started"
                await asyncio.sleep(0.01)  # polling uvicorn's flag under a deadline
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello"
            b"HEAD /echo HTTP/1.1\r\nhost: x\r\n\r\n"
            b"GET /none HTTP/1.1\r\nhost: x\r\n\r\n"
            b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n"
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201 Created\r\n") and b"content-length: 5" in head
        assert await reader.readexactly(5) == b"hello"
        head = await reader.readuntil(b"\r\n\r\n")  # HEAD: a head, no body
        assert head.startswith(b"HTTP/1.1 201 Created\r\n") and b"content-length: 5" in head
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 204 No Content\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
        assert await reader.readuntil(b"0\r\n\r\n") == b"4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"abc")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201 Created\r\n") and await reader.readexactly(3) == b"abc"
        writer.close()
    finally:
        server.should_exit = True
        await serving
