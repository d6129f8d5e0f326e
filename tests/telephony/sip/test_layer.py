"""The transaction layer matches datagrams to transactions, with no sockets and a fake clock."""

from __future__ import annotations

import gc
import weakref

from callgate.telephony.sip.layer import (
    ParseFailed,
    RequestReceived,
    StrayResponse,
    TransactionEvent,
    TransactionLayer,
)
from callgate.telephony.sip.message import Request, Response, parse_datagram
from callgate.telephony.sip.timers import SipTimers
from callgate.telephony.sip.transaction import ResponseReceived, State, Terminated

PEER = ("127.0.0.1", 5070)


def request(method: str, branch: str = "z9hG4bKl1") -> Request:
    req = Request(method=method, uri="sip:peer@127.0.0.1:5070")
    for name, value in (
        ("Via", f"SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport"),
        ("From", "<sip:cg@127.0.0.1>;tag=f"),
        ("To", "<sip:peer@127.0.0.1:5070>"),
        ("Call-ID", "layer-1"),
        ("CSeq", f"1 {method}"),
        ("Content-Length", "0"),
    ):
        req.headers.add(name, value)
    return req


def reply(req: Request, status: int) -> bytes:
    resp = Response(status=status, reason="R")
    for name in ("Via", "From", "Call-ID", "CSeq"):
        resp.headers.add(name, req.headers.get(name) or "")
    resp.headers.add("To", (req.headers.get("To") or "") + ";tag=t")
    resp.headers.add("Content-Length", "0")
    return resp.serialize()


def drain(layer):
    out = []
    while (event := layer.next_event()) is not None:
        out.append(event)
    return out


def test_client_responses_match_by_branch_and_method():
    layer = TransactionLayer(SipTimers())
    invite = request("INVITE")
    tx = layer.send_request(invite, PEER, now=0.0)
    assert [dest for _, dest in layer.datagrams_to_send()] == [PEER]
    layer.receive_datagram(reply(invite, 180), PEER, now=0.1)
    layer.receive_datagram(reply(request("INVITE", branch="z9hG4bKother"), 200), PEER, now=0.2)
    events = drain(layer)
    assert isinstance(events[0], TransactionEvent) and events[0].transaction is tx
    assert isinstance(events[0].event, ResponseReceived) and events[0].event.response.status == 180
    assert isinstance(events[1], StrayResponse)  # another branch: no transaction of ours
    layer.receive_datagram(reply(invite, 200), PEER, now=0.3)
    assert [type(e.event) for e in drain(layer)] == [ResponseReceived, Terminated]
    assert tx.state is State.TERMINATED and layer.get_timer() is None
    # The transaction is gone: a retransmitted 2xx is now stray, for the dialog to ACK again.
    layer.receive_datagram(reply(invite, 200), PEER, now=0.4)
    assert isinstance(drain(layer)[0], StrayResponse)


def test_server_transactions_answer_retransmissions_and_take_the_ack():
    layer = TransactionLayer(SipTimers())
    invite = request("INVITE", branch="z9hG4bKsrv")
    layer.receive_datagram(invite.serialize(), PEER, now=0.0)
    (event,) = drain(layer)
    assert isinstance(event, RequestReceived) and event.transaction is not None
    layer.respond(event.transaction, parse_datagram(reply(invite, 486)), now=0.1)  # type: ignore[arg-type]
    assert len(layer.datagrams_to_send()) == 1
    layer.receive_datagram(invite.serialize(), PEER, now=0.2)  # retransmitted INVITE
    assert len(layer.datagrams_to_send()) == 1 and drain(layer) == []  # answered again, no new event
    layer.receive_datagram(request("ACK", branch="z9hG4bKsrv").serialize(), PEER, now=0.3)
    assert event.transaction.state is State.CONFIRMED and drain(layer) == []


def test_an_ack_for_a_2xx_and_garbage_reach_the_user():
    layer = TransactionLayer(SipTimers())
    layer.receive_datagram(request("ACK", branch="z9hG4bKnew").serialize(), PEER, now=0.0)
    layer.receive_datagram(b"NOT SIP AT ALL\r\n\r\n", PEER, now=0.0)
    layer.receive_datagram(b"\r\n\r\n", PEER, now=0.0)  # a keep-alive: nothing
    ack, garbage = drain(layer)
    assert isinstance(ack, RequestReceived) and ack.transaction is None
    assert isinstance(garbage, ParseFailed) and "request line" in garbage.reason


def test_timers_of_every_transaction_are_driven():
    layer = TransactionLayer(SipTimers())
    layer.send_request(request("OPTIONS", branch="z9hG4bKo1"), PEER, now=0.0)
    layer.send_request(request("OPTIONS", branch="z9hG4bKo2"), PEER, now=0.2)
    layer.datagrams_to_send()
    assert layer.get_timer() == 0.5
    layer.handle_timer(0.5)
    assert len(layer.datagrams_to_send()) == 1
    layer.handle_timer(0.7)
    assert len(layer.datagrams_to_send()) == 1


def test_the_top_via_records_where_the_request_came_from():
    layer = TransactionLayer(SipTimers())
    req = request("OPTIONS", branch="z9hG4bKnat")
    req.headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKnat;rport")
    layer.receive_datagram(req.serialize(), ("192.0.2.7", 40000), now=0.0)
    (event,) = drain(layer)
    via = event.request.vias[0]
    assert (via.params["received"], via.params["rport"]) == ("192.0.2.7", "40000")
    layer.respond(event.transaction, parse_datagram(reply(event.request, 200)), now=0.1)  # type: ignore[arg-type]
    ((data, destination),) = layer.datagrams_to_send()
    assert destination == ("192.0.2.7", 40000)  # RFC 3581: back to the packet's source port
    assert b";rport=40000;received=192.0.2.7" in data


def test_a_transport_error_fails_the_pending_transactions_to_that_destination():
    layer = TransactionLayer(SipTimers(), reliable=True)
    invite, options = request("INVITE"), request("OPTIONS", branch="z9hG4bKl2")
    elsewhere = request("OPTIONS", branch="z9hG4bKl3")
    layer.send_request(invite, PEER, now=0.0)
    layer.send_request(options, PEER, now=0.0)
    other = layer.send_request(elsewhere, ("127.0.0.1", 5099), now=0.0)
    layer.transport_error(PEER, "Connection refused")
    events = [(e.transaction.request.method, type(e.event).__name__) for e in drain(layer)]
    assert events == [
        ("INVITE", "TransportFailed"), ("INVITE", "Terminated"),
        ("OPTIONS", "TransportFailed"), ("OPTIONS", "Terminated"),
    ]  # fmt: skip
    assert other.state is State.TRYING  # another destination is untouched
    assert layer.get_timer() == other.get_timer()  # only its Timer F is left
    # A response that comes anyway finds no transaction.
    layer.receive_datagram(reply(invite, 200), PEER, now=0.1)
    assert isinstance(drain(layer)[0], StrayResponse)


def test_a_slow_user_gets_100_trying_from_the_transaction_after_200_ms():
    layer = TransactionLayer(SipTimers())
    invite = request("INVITE", branch="z9hG4bKslow")
    layer.receive_datagram(invite.serialize(), PEER, now=0.0)
    (event,) = drain(layer)
    assert layer.datagrams_to_send() == [] and layer.get_timer() == 0.2
    layer.handle_timer(0.2)
    (sent,) = layer.datagrams_to_send()
    trying = parse_datagram(sent[0])
    assert (trying.status, trying.reason, trying.cseq.method) == (100, "Trying", "INVITE") and sent[1] == PEER
    # A user that answers in time sends its own provisional: no 100 from the transaction.
    prompt = request("INVITE", branch="z9hG4bKprompt")
    layer.receive_datagram(prompt.serialize(), PEER, now=1.0)
    (quick,) = drain(layer)
    layer.respond(quick.transaction, parse_datagram(reply(prompt, 180)), now=1.05)
    layer.datagrams_to_send()
    layer.handle_timer(1.3)
    assert layer.datagrams_to_send() == []


def test_after_a_2xx_retransmitted_invites_are_absorbed_then_the_transaction_ends():
    """RFC 6026: the Accepted state, 64*T1 long."""
    timers = SipTimers()
    layer = TransactionLayer(timers)
    invite = request("INVITE", branch="z9hG4bKacc")
    layer.receive_datagram(invite.serialize(), PEER, now=0.0)
    (event,) = drain(layer)
    ok = parse_datagram(reply(invite, 200))
    layer.respond(event.transaction, ok, now=0.1)
    assert len(layer.datagrams_to_send()) == 1 and event.transaction.state is State.ACCEPTED
    layer.receive_datagram(invite.serialize(), PEER, now=0.5)  # the INVITE again: absorbed
    assert layer.datagrams_to_send() == [] and drain(layer) == []
    layer.respond(event.transaction, ok, now=0.6)  # the user's own 2xx retransmission goes out
    assert len(layer.datagrams_to_send()) == 1
    layer.handle_timer(0.1 + timers.timeout)
    assert event.transaction.state is State.TERMINATED
    assert [type(e.event) for e in drain(layer)] == [Terminated]
    layer.receive_datagram(invite.serialize(), PEER, now=40.0)  # now it would be a new request
    assert isinstance(drain(layer)[0], RequestReceived)


def test_a_request_nobody_answers_is_forgotten_after_64_t1():
    timers = SipTimers()
    layer = TransactionLayer(timers)
    layer.receive_datagram(request("INFO", branch="z9hG4bKinfo").serialize(), PEER, now=0.0)
    (event,) = drain(layer)
    layer.handle_timer(timers.timeout)
    assert event.transaction.state is State.TERMINATED and layer.get_timer() is None
    assert layer._servers == {}


def old_style(method: str, cseq: int = 1) -> Request:
    """A request from an RFC 2543 element: a Via without a z9hG4bK branch."""
    req = request(method)
    req.headers.set("Via", "SIP/2.0/UDP 127.0.0.1:5070")
    req.headers.set("CSeq", f"{cseq} {method}")
    return req


def test_requests_without_a_3261_branch_match_by_their_other_fields():
    """RFC 3261 17.2.3: Request-URI, Call-ID, From tag, CSeq and top Via name the transaction."""
    layer = TransactionLayer(SipTimers())
    invite = old_style("INVITE")
    layer.receive_datagram(invite.serialize(), PEER, now=0.0)
    (event,) = drain(layer)
    layer.respond(event.transaction, parse_datagram(reply(invite, 486)), now=0.1)
    layer.datagrams_to_send()
    layer.receive_datagram(invite.serialize(), PEER, now=0.2)  # a retransmission: answered again
    assert len(layer.datagrams_to_send()) == 1 and drain(layer) == []
    layer.receive_datagram(old_style("ACK").serialize(), PEER, now=0.3)  # the ACK of the 486
    assert event.transaction.state is State.CONFIRMED and drain(layer) == []
    layer.receive_datagram(old_style("INVITE", cseq=2).serialize(), PEER, now=0.4)  # a new one
    (second,) = drain(layer)
    assert isinstance(second, RequestReceived) and second.transaction is not event.transaction


def test_a_cancel_matches_the_invite_of_its_branch_or_of_its_other_fields():
    """RFC 3261 9.2: the CANCEL of an INVITE names the INVITE's server transaction, with a 3261
    branch or, from an RFC 2543 element, with the same Request-URI, Call-ID, From tag, CSeq and Via."""
    layer = TransactionLayer(SipTimers())
    for invite in (request("INVITE", branch="z9hG4bKc1"), old_style("INVITE")):
        layer.receive_datagram(invite.serialize(), PEER, now=0.0)
    drain(layer)
    assert layer.matches_invite(request("CANCEL", branch="z9hG4bKc1"))
    assert layer.matches_invite(old_style("CANCEL"))
    assert not layer.matches_invite(request("CANCEL", branch="z9hG4bKc2"))
    assert not layer.matches_invite(old_style("CANCEL", cseq=2))
    layer.receive_datagram(request("OPTIONS", branch="z9hG4bKc3").serialize(), PEER, now=0.0)
    assert not layer.matches_invite(request("CANCEL", branch="z9hG4bKc3"))  # an OPTIONS' branch


def test_the_ack_of_a_2xx_reaches_the_user_even_when_it_matches_the_invite():
    layer = TransactionLayer(SipTimers())
    invite = old_style("INVITE")
    layer.receive_datagram(invite.serialize(), PEER, now=0.0)
    (event,) = drain(layer)
    layer.respond(event.transaction, parse_datagram(reply(invite, 200)), now=0.1)
    layer.receive_datagram(old_style("ACK").serialize(), PEER, now=0.2)  # same Request-URI: matches
    (ack,) = drain(layer)
    assert isinstance(ack, RequestReceived) and ack.request.method == "ACK" and ack.transaction is None


def test_an_ended_transaction_is_freed_though_its_deadlines_are_still_in_the_heap():
    # An answered INVITE ends long before its Timer B (32 s): nothing may keep it, and the parsed
    # messages it holds, alive until then (full garbage collections would walk them all).
    layer = TransactionLayer(SipTimers())
    invite = request("INVITE")
    tx = layer.send_request(invite, PEER, now=0.0)
    options = layer.send_request(request("OPTIONS", branch="z9hG4bKl2"), PEER, now=0.0)
    layer.datagrams_to_send()
    layer.receive_datagram(reply(invite, 200), PEER, now=0.1)
    drain(layer)
    gone = weakref.ref(tx)
    was_disabled = not gc.isenabled()
    gc.disable()  # only reference counting may free it
    try:
        del tx
        assert gone() is None
    finally:
        if not was_disabled:
            gc.enable()
    assert layer.get_timer() == options.get_timer()  # the other transaction's timers still run
    layer.handle_timer(0.5)  # Timer E of the OPTIONS; the INVITE's Timer A entry is skipped
    ((data, _),) = layer.datagrams_to_send()
    assert data.startswith(b"OPTIONS ")
