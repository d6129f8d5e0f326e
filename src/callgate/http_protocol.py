"""The HTTP/1.1 protocol `callgate serve` runs: uvicorn's httptools protocol, with the head of each
response written to the socket together with its body.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, then the body as a second write. Each write is a system call, and over a
fast network the first one wakes the client to read a head without a body. On
`POST .../Calls.json` under `wrk -c32` (bench/api_create.py) the two writes were a large share of the
event loop's time. Here a head waits for the body that the app sends in the same turn of the event
loop, and both leave in one write; a head whose body is not sent in that turn (a streamed response
that takes its time) leaves at the end of the turn, alone, as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_JOIN_BYTES = 64 * 1024


class _JoinedWrites:
    """A transport that holds a response head (`HTTP/... CRLF CRLF`) until the next write or the end
    of the loop's turn. Everything else is the wrapped transport's; bytes leave in the order written."""

    __slots__ = ("_transport", "_loop", "_head", "_flush_handle")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            if len(data) <= _JOIN_BYTES:
                self._transport.write(head + bytes(data))
            else:  # no copy of a large body: one vectored write where the transport has it
                self._transport.writelines((head, data))
        elif isinstance(data, bytes) and data.startswith(b"HTTP/") and data.endswith(b"\r\n\r\n"):
            self._head = data
            self._flush_handle = self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        self._flush()
        self._transport.writelines(chunks)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        self._flush_handle = None
        head, self._head = self._head, None
        if head is not None and not self._transport.is_closing():
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses leave in one write (see the module's doc)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _JoinedWrites(transport, self.loop)  # type: ignore[assignment]
