"""One UDP socket driving a `TransactionLayer` (the aioquic shape: datagrams, one timer, events out)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import Any

from callgate.telephony.aio.entropy import token_hex
from callgate.telephony.sip.layer import (
    Address,
    LayerEvent,
    ParseFailed,
    RequestReceived,
    ServerTransaction,
    StrayResponse,
    TransactionEvent,
    TransactionLayer,
)
from callgate.telephony.sip.message import Request, Response, response_for
from callgate.telephony.sip.timers import SipTimers
from callgate.telephony.sip.transaction import Event, Terminated, TimedOut
from callgate.telephony.sip.unclaimed import answer, bad_request

log = logging.getLogger(__name__)


class SipEndpoint(asyncio.DatagramProtocol):
    """A SIP UDP endpoint. Client transactions report to their own queues; new requests and stray
    responses go to the callbacks the user agent sets. Until it sets `on_request`, every new request
    gets its final response from `callgate.telephony.sip.unclaimed` (`answer_unclaimed`); a request
    that does not parse gets a 400 where it can (`bad_request`)."""

    #: the transport named in our Via headers and Contact
    via_transport = "UDP"

    def __init__(self, timers: SipTimers, *, reliable: bool = False) -> None:
        self.layer = TransactionLayer(timers, reliable=reliable)
        self.transport: asyncio.DatagramTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # the deadline `_timer` is armed for
        self._queues: dict[int, asyncio.Queue[Event]] = {}
        # Requests and stray responses of a known Call-ID go to that call's handlers; the rest (new
        # INVITEs, say) to `on_request` / `on_stray_response`.
        self.on_request: Callable[[RequestReceived], None] = self.answer_unclaimed
        self.on_stray_response: Callable[[StrayResponse], None] = lambda event: None
        self._calls: dict[str, tuple[Callable[[RequestReceived], None], Callable[[StrayResponse], None]]] = {}
        # Datagrams leave together once per turn of the event loop (see `_send`).
        self._outgoing: list[tuple[bytes, Address]] = []
        self._address: Address = ("", 0)  # the bound socket's, read once (a system call each time)

    @classmethod
    async def open(cls, host: str, port: int, timers: SipTimers | None = None) -> SipEndpoint:
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: cls(timers or SipTimers()), local_addr=(host, port)
        )
        return endpoint

    @property
    def local_address(self) -> Address:
        assert self.transport is not None
        return self._address

    def close(self) -> None:
        """Stop; every transaction still awaited ends with a timeout, so no waiter hangs."""
        self._flush()  # what was sent before closing still leaves
        if self._timer is not None:
            self._timer.cancel()
        for queue in self._queues.values():
            queue.put_nowait(TimedOut("closed"))
            queue.put_nowait(Terminated())
        self._queues.clear()
        self._calls.clear()
        if self.transport is not None:
            self.transport.close()

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport for a datagram endpoint
        host, port = transport.get_extra_info("sockname")[:2]
        self._address = (host, port)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            _widen_buffers(sock)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.layer.receive_datagram(data, (addr[0], addr[1]), self._loop.time())
        self._pump()

    # the user agent's calls

    def send_request(self, request: Request, destination: Address) -> asyncio.Queue[Event] | None:
        """Send `request`; the queue its transaction reports to (None for an ACK)."""
        tx = self.layer.send_request(request, destination, self._loop.time())
        queue: asyncio.Queue[Event] | None = None
        if tx is not None:
            queue = asyncio.Queue()
            self._queues[id(tx)] = queue
        self._pump()
        return queue

    def register_call(
        self,
        call_id: str,
        on_request: Callable[[RequestReceived], None],
        on_stray_response: Callable[[StrayResponse], None],
    ) -> None:
        """Route this Call-ID's in-dialog requests and stray responses to its own handlers."""
        self._calls[call_id] = (on_request, on_stray_response)

    def unregister_call(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def send_raw(self, data: bytes, destination: Address) -> None:
        """Send bytes outside any transaction (the UAS core's own 2xx retransmissions, 13.3.1.4)."""
        self._send(data, destination)

    def respond(self, transaction: ServerTransaction, response: Response) -> None:
        self.layer.respond(transaction, response, self._loop.time())
        self._pump()

    def answer_unclaimed(self, event: RequestReceived) -> None:
        """Give a request that no call claims its final response now, so its transaction ends
        (`callgate.telephony.sip.unclaimed`: 200 to OPTIONS, 481 outside a dialog, 480 to INVITE)."""
        request, tx = event.request, event.transaction
        if tx is None:
            return  # an ACK of a 2xx, of no call of ours: nothing answers an ACK
        matches = request.method == "CANCEL" and self.layer.matches_invite(request)
        response = answer(request, to_tag=token_hex(6), matches_invite=matches)
        if response is not None:
            self.respond(tx, response)

    # the pump: send, dispatch, re-arm the one timer

    def _send(self, data: bytes, destination: Address) -> None:
        """Queue `data`; it leaves with every other datagram queued in this turn of the event loop.

        A datagram that has to wake its receiver costs the sender several times as much CPU as one
        that finds it awake (over loopback the kernel delivers it to the far end within the
        `sendto`), so sending the requests and
        responses of many calls back to back, rather than one whenever each is ready, wakes the far
        end once for the lot. The wait is the rest of the loop's turn, well under a millisecond.
        """
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append((data, destination))

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for data, destination in outgoing:
            transport.sendto(data, destination)

    def _pump(self) -> None:
        for data, destination in self.layer.datagrams_to_send():
            self._send(data, destination)
        while (event := self.layer.next_event()) is not None:
            self._dispatch(event)
        deadline = self.layer.get_timer()
        if self._timer is not None:
            if deadline == self._timer_at:
                return  # armed for this deadline already (the usual case; a timer per pump costs)
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_at = deadline

    def _on_timer(self) -> None:
        self._timer = None
        self.layer.handle_timer(self._loop.time())
        self._pump()

    def _dispatch(self, event: LayerEvent) -> None:
        if isinstance(event, TransactionEvent):
            tx = event.transaction
            queue = self._queues.get(id(tx))
            if queue is not None:
                queue.put_nowait(event.event)
                # Its user has had the final response: what follows (Terminated, after Timer D or
                # K) is for nobody, so the queue goes now rather than seconds later.
                if isinstance(event.event, Terminated) or tx.state in tx.waiting:
                    del self._queues[id(tx)]
        elif isinstance(event, RequestReceived):
            handlers = self._calls.get(event.request.headers.get("Call-ID") or "")
            self._guarded(handlers[0] if handlers else self.on_request, event)
        elif isinstance(event, StrayResponse):
            handlers = self._calls.get(event.response.headers.get("Call-ID") or "")
            self._guarded(handlers[1] if handlers else self.on_stray_response, event)
        elif isinstance(event, ParseFailed):
            log.debug("unparsable SIP message from %s:%s: %s", *event.source, event.reason)
            response = bad_request(event.data, event.reason, to_tag=token_hex(6))
            if response is not None:
                self.layer.respond_statelessly(response, event.source)
                self._pump()

    def _guarded(self, callback: Callable[[Any], None], event: RequestReceived | StrayResponse) -> None:
        """Run a user agent's callback; if it fails, log it and answer the request 500 (RFC 3261
        21.5.1) so its transaction does not wait forever, and carry on with the other events."""
        try:
            callback(event)
        except Exception:
            log.exception("SIP handler failed for %s", type(event).__name__)
            if isinstance(event, RequestReceived) and event.transaction is not None:
                if not event.transaction.answered:
                    self.respond(event.transaction, response_for(event.request, 500, "Server Internal Error"))


#: what the SIP socket asks of the kernel for each direction (it grants up to net.core.rmem_max and
#: net.core.wmem_max)
SOCKET_BUFFER_BYTES = 4 * 1024 * 1024


def _widen_buffers(sock: socket.socket) -> None:
    """Ask for large socket buffers. The default receive buffer (about 208 KiB, where each queued
    datagram counts at twice its size or more) holds only a few hundred SIP messages: a burst of
    answers to a hundred INVITEs sent in one turn of the loop overflowed it, and every datagram the
    kernel dropped cost a retransmission 0.5 s later, or a transaction lost for good."""
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            if sock.getsockopt(socket.SOL_SOCKET, option) < SOCKET_BUFFER_BYTES:
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        except OSError as exc:  # pragma: no cover - a platform without the option keeps its default
            log.debug("SIP socket buffer not widened: %s", exc)


def is_address(host: str) -> bool:
    """Whether `host` is an IP address (no DNS needed), not a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int, endpoint: SipEndpoint) -> Address:
    """`host`:`port` as an address `endpoint` can send to: an IP address as it is, a name through the
    system resolver (A or AAAA, by the endpoint's family). Raises OSError when the name does not
    resolve."""
    if is_address(host):
        return host, port
    family = socket.AF_INET6 if ":" in endpoint.local_address[0] else socket.AF_INET
    kind = socket.SOCK_STREAM if endpoint.layer.reliable else socket.SOCK_DGRAM
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=kind)
    address = infos[0][4]
    return str(address[0]), int(address[1])
