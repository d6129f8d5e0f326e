"""The transaction layer (RFC 3261 17.1.3, 17.2.3): matches messages to transactions, sans-IO.

Feed it datagrams (`receive_datagram`) and timer expiries; it says what to send where
(`datagrams_to_send`), when to wake it (`get_timer`), and what happened (`next_event`).
Responses match a client transaction by the top Via branch and the CSeq method; requests match a
server transaction by branch and method (an ACK matches its INVITE's). A new request becomes a server
transaction and a `RequestReceived` event; a 2xx to an INVITE whose transaction is gone (a
retransmission the dialog must ACK again) is a `StrayResponse`; garbage is a `ParseFailed`, which
the user may answer outside any transaction (`respond_statelessly`, a 400 for a request).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.headers import Via, split_list
from callgate.telephony.sip.message import Request, Response, parse_datagram
from callgate.telephony.sip.timers import SipTimers
from callgate.telephony.sip.transaction import (
    Event,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    Terminated,
    Transaction,
)

Address = tuple[str, int]
ClientTransaction = InviteClientTransaction | NonInviteClientTransaction
ServerTransaction = InviteServerTransaction | NonInviteServerTransaction


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """An event of one transaction (a response for the user, a timeout, its end)."""

    transaction: Transaction
    event: Event


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request; answer it through `transaction.respond` (ACKs of 2xx come with none)."""

    request: Request
    source: Address
    transaction: ServerTransaction | None


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response no transaction claims (typically a retransmitted 2xx of an INVITE)."""

    response: Response
    source: Address


@dataclass(frozen=True, slots=True)
class ParseFailed:
    """A message that did not parse, for `reason`; `data` holds a datagram's bytes (for a 400)."""

    source: Address
    reason: str
    data: bytes = b""


LayerEvent = TransactionEvent | RequestReceived | StrayResponse | ParseFailed


class TransactionLayer:
    """All the transactions of one UDP socket."""

    def __init__(self, timers: SipTimers, *, reliable: bool = False) -> None:
        self.timers = timers
        self.reliable = reliable
        self._clients: dict[tuple[str, str], tuple[ClientTransaction, Address]] = {}
        self._servers: dict[tuple[str, str], tuple[ServerTransaction, Address]] = {}
        self._outbox: list[tuple[bytes, Address]] = []
        self._events: deque[LayerEvent] = deque()
        # Deadlines in a heap, checked lazily: an entry is live while its transaction still wants
        # that very deadline. Thousands of transactions cost O(log n) per event, not O(n). An entry
        # names its transaction by id, not by reference: a transaction that ended with a deadline
        # still in the heap (Timer B of an answered INVITE, 32 s on) is freed at once with all it
        # holds, instead of living on, and being traversed by every full garbage collection, until
        # the stale entry comes up.
        self._heap: list[tuple[float, int, int]] = []
        self._tiebreak = itertools.count()
        self._where: dict[int, tuple[dict[Any, Any], tuple[str, str]]] = {}
        self._pushed: dict[int, float] = {}

    # what the transaction user calls

    def send_request(self, request: Request, destination: Address, now: float) -> ClientTransaction | None:
        """Start a client transaction for `request` (None for an ACK, which has none: 17.1.1.3)."""
        if request.method == "ACK":
            self._outbox.append((request.serialize(), destination))
            return None
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = cls(request, reliable=self.reliable, timers=self.timers, now=now)
        key = (tx.branch or "", request.method)
        self._clients[key] = (tx, destination)
        self._where[id(tx)] = (self._clients, key)
        self._flush(tx, destination)
        return tx

    def transport_error(self, destination: Address, reason: str) -> None:
        """The transport could not reach `destination`: its pending client transactions fail."""
        for tx, where in list(self._clients.values()):
            if where == destination:
                tx.transport_failed(reason)
                self._flush(tx, where)

    def respond(self, transaction: ServerTransaction, response: Response, now: float) -> None:
        transaction.respond(response, now)
        destination = self._server_address(transaction)
        if destination is not None:
            self._flush(transaction, destination)

    def respond_statelessly(self, response: Response, source: Address) -> None:
        """Send `response` outside any transaction (RFC 3261 8.2.7), to where its top Via says the
        request that came from `source` wants it (18.2.2)."""
        reply_to = source if self.reliable else _reply_address(response.vias[0], source)
        self._outbox.append((response.serialize(), reply_to))

    def matches_invite(self, cancel: Request) -> bool:
        """Whether `cancel` matches a live INVITE server transaction (RFC 3261 9.2)."""
        return (_server_key(cancel), "INVITE") in self._servers

    # what the socket calls

    def receive_datagram(self, data: bytes, source: Address, now: float) -> None:
        if not data.strip():
            return  # a keep-alive
        try:
            message = parse_datagram(data)
        except RemoteProtocolError as exc:
            self._events.append(ParseFailed(source, exc.reason, data))
            return
        self.receive_message(message, source, now)

    def receive_message(self, message: Request | Response, source: Address, now: float) -> None:
        """A message already framed and parsed (a stream transport's `StreamParser` did it)."""
        if isinstance(message, Response):
            self._response(message, source, now)
        else:
            self._request(message, source, now)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outbox = self._outbox, []
        return out

    def next_event(self) -> LayerEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        while self._heap:
            deadline, _, tx_id = self._heap[0]
            where = self._where.get(tx_id)
            if where is not None:
                table, key = where
                if table[key][0].get_timer() == deadline:
                    return deadline
            heapq.heappop(self._heap)  # stale: the transaction moved on or ended
        return None

    def handle_timer(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            deadline, _, tx_id = heapq.heappop(self._heap)
            where = self._where.get(tx_id)
            if where is None:
                continue
            table, key = where
            tx, destination = table[key]
            if tx.get_timer() != deadline:
                continue
            tx.handle_timer(now)
            self._flush(tx, destination)

    # matching

    def _response(self, response: Response, source: Address, now: float) -> None:
        try:
            key = (response.vias[0].branch or "", response.cseq.method)
        except (RemoteProtocolError, IndexError):
            self._events.append(ParseFailed(source, "response without a usable Via or CSeq"))
            return
        entry = self._clients.get(key)
        if entry is None:
            self._events.append(StrayResponse(response, source))
            return
        tx, destination = entry
        tx.receive(response, now)
        self._flush(tx, destination)

    def _request(self, request: Request, source: Address, now: float) -> None:
        method = "INVITE" if request.method == "ACK" else request.method
        branch = _server_key(request)
        _stamp_via(request, source)
        entry = self._servers.get((branch, method))
        if entry is not None:
            tx, destination = entry
            if request.method == "ACK" and tx.state is State.ACCEPTED:
                # The ACK of the 2xx (RFC 6026 8.7): the transaction user's, not the transaction's.
                self._events.append(RequestReceived(request, source, None))
                return
            tx.receive_request(request, now)
            self._flush(tx, destination)
            return
        if request.method == "ACK":
            self._events.append(RequestReceived(request, source, None))  # the ACK of a 2xx
            return
        cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        server = cls(request, reliable=self.reliable, timers=self.timers, now=now)
        # 18.2.2: on a stream, the same connection
        reply_to = source if self.reliable else _reply_address(request.vias[0], source)
        self._servers[(branch, method)] = (server, reply_to)
        self._where[id(server)] = (self._servers, (branch, method))
        self._events.append(RequestReceived(request, source, server))
        self._flush(server, reply_to)  # its own timers (Y: 100 Trying, W: the watchdog) start now

    def _server_address(self, transaction: Transaction) -> Address | None:
        where = self._where.get(id(transaction))
        if where is None:
            return None
        table, key = where
        return table[key][1]  # type: ignore[no-any-return]

    def _flush(self, tx: Transaction, destination: Address) -> None:
        for data in tx.datagrams_to_send():
            self._outbox.append((data, destination))
        while (event := tx.next_event()) is not None:
            self._events.append(TransactionEvent(tx, event))
            if isinstance(event, Terminated):
                self._forget(tx)
        deadline = tx.get_timer()
        if deadline is not None and id(tx) in self._where and self._pushed.get(id(tx)) != deadline:
            self._pushed[id(tx)] = deadline  # one heap entry per deadline, however often we flush
            heapq.heappush(self._heap, (deadline, next(self._tiebreak), id(tx)))

    def _forget(self, tx: Transaction) -> None:
        self._pushed.pop(id(tx), None)
        where = self._where.pop(id(tx), None)
        if where is not None:
            table, key = where
            table.pop(key, None)


def _server_key(request: Request) -> str:
    """What names a request's server transaction, with its method: the top Via's branch.

    RFC 3261 17.2.3: a request from an RFC 2543 element has no usable branch; its transaction is named
    by the Request-URI, Call-ID, From tag, CSeq number and top Via instead. (The ACK of a 2xx goes to
    the Contact, so a changed Request-URI keeps it out of the INVITE's; a CANCEL has all of them equal
    to its INVITE's, 9.2.)"""
    top = request.vias[0]
    branch = top.branch or ""
    if branch.startswith("z9hG4bK"):
        return branch
    sent_by = f"{top.host}:{top.port or 5060}"
    return f"2543|{request.uri}|{request.call_id}|{request.from_.tag}|{request.cseq.seq}|{sent_by}"


def _stamp_via(request: Request, source: Address) -> None:
    """RFC 3261 18.2.1 and RFC 3581 4: note in the top Via where the request really came from, so
    every response (which echoes the Via) carries `received` and a filled-in `rport`."""
    top = request.vias[0]
    params = dict(top.params)
    if top.host != source[0]:
        params["received"] = source[0]
    if "rport" in params:
        params["rport"] = str(source[1])
    if params == top.params:
        return
    stamped = Via(top.transport, top.host, top.port, params).serialize()
    for header in request.headers.lines:
        if header.key == "Via":
            values = split_list(header.value)
            values[0] = stamped
            header.value, header.raw = ", ".join(values), None
            return


def _reply_address(via: Via, source: Address) -> Address:
    """Where responses go, by the request's top Via (RFC 3261 18.2.2 with RFC 3581 rport): the
    packet's source on UDP."""
    if "rport" in via.params or "received" in via.params:
        return source
    return (source[0], via.port or 5060)
