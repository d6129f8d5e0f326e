"""SIP over TCP (RFC 3261 18): the same endpoint, with connections instead of one socket.

Requests to a destination reuse the connection to it (or open one); requests that arrive on a
connection are answered on it (18.2.2). Each connection frames messages with a `StreamParser`; a
peer that breaks the framing loses its connection, never the endpoint. A connection that cannot be
opened fails the transactions waiting on it at once (17.1.4); one idle for `idle_timeout` seconds
(no message either way) is closed.
"""

from __future__ import annotations

import asyncio
import logging

from callgate.telephony.aio.endpoint import SipEndpoint
from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.layer import Address
from callgate.telephony.sip.message import StreamParser
from callgate.telephony.sip.timers import SipTimers

log = logging.getLogger(__name__)


class _Connection(asyncio.Protocol):
    def __init__(self, endpoint: TcpSipEndpoint) -> None:
        self.endpoint = endpoint
        self.parser = StreamParser()
        self.transport: asyncio.Transport | None = None
        self.peer: Address = ("", 0)
        self._idle: asyncio.TimerHandle | None = None

    def touch(self) -> None:
        """Traffic either way: the idle countdown starts again."""
        if self._idle is not None:
            self._idle.cancel()
        if self.transport is not None and not self.transport.is_closing():
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.endpoint.idle_timeout, self._close_idle)

    def _close_idle(self) -> None:
        log.debug("closing idle SIP/TCP connection to %s:%s", *self.peer)
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport for a stream protocol
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = (host, port)
        self.endpoint.connections[self.peer] = self
        self.touch()

    def data_received(self, data: bytes) -> None:
        self.touch()
        try:
            messages = self.parser.feed(data)
        except RemoteProtocolError as exc:
            log.info("closing SIP/TCP connection from %s:%s: %s", *self.peer, exc.reason)
            assert self.transport is not None
            self.transport.close()
            return
        now = asyncio.get_running_loop().time()
        for message in messages:
            self.endpoint.layer.receive_message(message, self.peer, now)
        self.endpoint.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self.endpoint.connections.get(self.peer) is self:
            del self.endpoint.connections[self.peer]


class TcpSipEndpoint(SipEndpoint):
    """A SIP TCP endpoint: listens on (host, port) and connects out as needed. No retransmissions:
    the transaction layer runs with `reliable=True` (17.1.1.2)."""

    via_transport = "TCP"

    def __init__(self, timers: SipTimers, *, idle_timeout: float = 300.0) -> None:
        super().__init__(timers, reliable=True)
        self.idle_timeout = idle_timeout
        self.connections: dict[Address, _Connection] = {}
        self._pending: dict[Address, list[bytes]] = {}
        self._server: asyncio.Server | None = None
        self._address: Address = ("", 0)

    @classmethod
    async def open_tcp(
        cls, host: str, port: int, timers: SipTimers | None = None, *, idle_timeout: float = 300.0
    ) -> TcpSipEndpoint:
        endpoint = cls(timers or SipTimers(), idle_timeout=idle_timeout)
        loop = asyncio.get_running_loop()
        endpoint._server = await loop.create_server(lambda: _Connection(endpoint), host, port)
        sockname = endpoint._server.sockets[0].getsockname()
        endpoint._address = (sockname[0], sockname[1])
        return endpoint

    @property
    def local_address(self) -> Address:
        return self._address

    def close(self) -> None:
        super().close()
        for connection in list(self.connections.values()):
            if connection.transport is not None:
                connection.transport.close()
        if self._server is not None:
            self._server.close()

    def pump(self) -> None:
        self._pump()

    def _send(self, data: bytes, destination: Address) -> None:
        connection = self.connections.get(destination)
        if (
            connection is not None
            and connection.transport is not None
            and not connection.transport.is_closing()
        ):
            connection.transport.write(data)
            connection.touch()
            return
        waiting = self._pending.setdefault(destination, [])
        waiting.append(data)
        if len(waiting) == 1:
            asyncio.get_running_loop().create_task(self._connect(destination))

    async def _connect(self, destination: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(lambda: _Connection(self), *destination)
        except OSError as exc:
            # 17.1.4: the transactions waiting on this connection fail now, not at Timer B/F.
            log.info("SIP/TCP connection to %s:%s failed: %s", *destination, exc)
            self._pending.pop(destination, None)
            self.layer.transport_error(destination, exc.strerror or str(exc))
            self.pump()
            return
        self.connections[destination] = connection
        assert connection.transport is not None
        for data in self._pending.pop(destination, []):
            connection.transport.write(data)


async def open_udp_and_tcp(
    host: str, port: int, timers: SipTimers | None = None, *, tcp: bool = True
) -> tuple[SipEndpoint, TcpSipEndpoint | None]:
    """A UDP endpoint and a TCP one on the same port. With port 0 the system picks the UDP port, which
    may be taken for TCP: then another is picked (a few times) before giving up."""
    for attempt in range(20):
        udp = await SipEndpoint.open(host, port, timers)
        if not tcp:
            return udp, None
        try:
            return udp, await TcpSipEndpoint.open_tcp(host, udp.local_address[1], timers)
        except OSError:
            udp.close()
            if port != 0 or attempt == 19:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
