"""Transactions advance on a fake clock: retransmission schedules, timeouts, ACKs, absorption."""

from __future__ import annotations

import pytest

from callgate.telephony.sip.message import Request, Response, parse_datagram
from callgate.telephony.sip.timers import SipTimers
from callgate.telephony.sip.transaction import (
    INVITE_CLIENT,
    INVITE_SERVER,
    NON_INVITE_CLIENT,
    NON_INVITE_SERVER,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ResponseReceived,
    State,
    Terminated,
    TimedOut,
)

TIMERS = SipTimers(t1=0.5, t2=4.0, t4=5.0)


def request(method: str = "INVITE") -> Request:
    req = Request(method=method, uri="sip:+14155550100@127.0.0.1:5080")
    for name, value in (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtx1"),
        ("Max-Forwards", "70"),
        ("Route", "<sip:127.0.0.1:5090;lr>"),
        ("From", "<sip:cg@127.0.0.1>;tag=f1"),
        ("To", "<sip:+14155550100@127.0.0.1:5080>"),
        ("Call-ID", "tx-1"),
        ("CSeq", f"7 {method}"),
        ("Content-Length", "0"),
    ):
        req.headers.add(name, value)
    return req


def response(req: Request, status: int, to_tag: str | None = "t1") -> Response:
    resp = Response(status=status, reason="Reason")
    for name in ("Via", "From", "Call-ID", "CSeq"):
        resp.headers.add(name, req.headers.get(name) or "")
    to = req.headers.get("To") or ""
    resp.headers.add("To", to + (f";tag={to_tag}" if to_tag else ""))
    resp.headers.add("Content-Length", "0")
    return resp


def run_until(tx, end: float) -> list[float]:
    """Fire every timer up to `end`; the times at which the request went out again."""
    sends = []
    while (deadline := tx.get_timer()) is not None and deadline <= end:
        tx.handle_timer(deadline)
        if tx.datagrams_to_send():
            sends.append(deadline)
    return sends


def events(tx) -> list:
    out = []
    while (event := tx.next_event()) is not None:
        out.append(event)
    return out


def test_invite_timer_a_doubles_and_timer_b_gives_up_at_64_t1():
    tx = InviteClientTransaction(request(), reliable=False, timers=TIMERS, now=0.0)
    assert len(tx.datagrams_to_send()) == 1  # the INVITE
    sends = run_until(tx, 100.0)
    # RFC 3261 17.1.1.2: retransmit at T1, 2T1, 4T1, ... (no T2 cap for INVITE), until B = 64*T1.
    assert sends == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert tx.state is State.TERMINATED
    assert events(tx) == [TimedOut("B"), Terminated()]


def test_invite_over_tcp_never_retransmits():
    tx = InviteClientTransaction(request(), reliable=True, timers=TIMERS, now=0.0)
    tx.datagrams_to_send()
    assert run_until(tx, 31.9) == [] and tx.state is State.CALLING
    tx.handle_timer(32.0)
    assert tx.state is State.TERMINATED


def test_invite_provisional_stops_retransmission_and_2xx_goes_up_unacked():
    req = request()
    tx = InviteClientTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    tx.datagrams_to_send()
    tx.receive(response(req, 180), now=0.2)
    assert tx.state is State.PROCEEDING
    assert run_until(tx, 10.0) == []  # no more A in Proceeding
    tx.receive(response(req, 200), now=10.0)
    assert tx.state is State.TERMINATED
    assert tx.datagrams_to_send() == []  # the dialog ACKs a 2xx, not the transaction
    assert [type(e) for e in events(tx)] == [ResponseReceived, ResponseReceived, Terminated]


def test_invite_non_2xx_is_acked_and_retransmissions_reacked_until_timer_d():
    req = request()
    tx = InviteClientTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    tx.datagrams_to_send()
    busy = response(req, 486)
    tx.receive(busy, now=1.0)
    (ack_bytes,) = tx.datagrams_to_send()
    ack = parse_datagram(ack_bytes)
    # RFC 3261 17.1.1.3: same Request-URI, Call-ID, From, top Via and CSeq number; To from the response.
    assert (ack.method, ack.uri, ack.call_id) == ("ACK", req.uri, "tx-1")
    assert ack.cseq.seq == 7 and ack.cseq.method == "ACK"
    assert ack.vias[0].branch == "z9hG4bKtx1" and ack.to.tag == "t1"
    assert ack.headers.get_all("Route") == ["<sip:127.0.0.1:5090;lr>"]
    tx.receive(busy, now=2.0)  # the final response again: ACK again, no second event
    assert len(tx.datagrams_to_send()) == 1
    assert [type(e) for e in events(tx)] == [ResponseReceived]
    tx.handle_timer(1.0 + 31.9)
    assert tx.state is State.COMPLETED
    tx.handle_timer(1.0 + 32.0)  # Timer D: 32 s on UDP
    assert tx.state is State.TERMINATED and events(tx) == [Terminated()]


def test_non_invite_timer_e_caps_at_t2_and_f_times_out():
    tx = NonInviteClientTransaction(request("OPTIONS"), reliable=False, timers=TIMERS, now=0.0)
    tx.datagrams_to_send()
    sends = run_until(tx, 100.0)
    # 17.1.2.2: T1, 2T1, 4T1, then every T2 (4 s) until F at 64*T1.
    assert sends == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events(tx) == [TimedOut("F"), Terminated()]


def test_non_invite_in_proceeding_retransmits_every_t2():
    req = request("BYE")
    tx = NonInviteClientTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    tx.datagrams_to_send()
    tx.receive(response(req, 100), now=0.1)
    assert tx.state is State.PROCEEDING
    assert run_until(tx, 9.0) == [0.5, 4.5, 8.5]
    tx.receive(response(req, 200), now=9.0)
    assert tx.state is State.COMPLETED
    tx.handle_timer(9.0 + 5.0)  # Timer K = T4 on UDP
    assert tx.state is State.TERMINATED
    tx.receive(response(req, 200), now=15.0)  # late retransmission: absorbed
    assert [type(e) for e in events(tx)] == [ResponseReceived, ResponseReceived, Terminated]


def test_non_invite_over_tcp_completes_at_once():
    req = request("BYE")
    tx = NonInviteClientTransaction(req, reliable=True, timers=TIMERS, now=0.0)
    tx.receive(response(req, 200), now=0.3)
    tx.handle_timer(0.3)  # Timer K = 0 on TCP
    assert tx.state is State.TERMINATED


def test_invite_server_retransmits_final_until_ack_then_absorbs():
    req = request()
    tx = InviteServerTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    tx.respond(response(req, 180), now=0.0)
    tx.receive_request(req, now=0.1)  # retransmitted INVITE: the last response again
    assert len(tx.datagrams_to_send()) == 2
    tx.respond(response(req, 486), now=1.0)
    tx.datagrams_to_send()
    sends = run_until(tx, 9.0)
    assert sends == [1.5, 2.5, 4.5, 8.5]  # Timer G: T1, 2T1, 4T1, capped at T2
    tx.receive_request(Request(method="ACK", uri=req.uri), now=9.0)
    assert tx.state is State.CONFIRMED and run_until(tx, 13.9) == []
    tx.handle_timer(14.0)  # Timer I = T4
    assert tx.state is State.TERMINATED


def test_invite_server_without_ack_times_out_at_timer_h():
    req = request()
    tx = InviteServerTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    tx.respond(response(req, 603), now=0.0)
    run_until(tx, 40.0)
    assert tx.state is State.TERMINATED
    assert events(tx) == [TimedOut("H"), Terminated()]


def test_non_invite_server_answers_retransmissions_with_the_last_response():
    req = request("OPTIONS")
    tx = NonInviteServerTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    tx.receive_request(req, now=0.1)  # nothing to resend yet: absorbed in Trying
    assert tx.datagrams_to_send() == []
    tx.respond(response(req, 200), now=0.2)
    tx.receive_request(req, now=0.3)
    assert len(tx.datagrams_to_send()) == 2
    tx.handle_timer(0.2 + 32.0)  # Timer J = 64*T1
    assert tx.state is State.TERMINATED


@pytest.mark.parametrize("table", [INVITE_CLIENT, NON_INVITE_CLIENT, INVITE_SERVER, NON_INVITE_SERVER])
def test_terminated_accepts_nothing(table):
    assert not [key for key in table if key[0] is State.TERMINATED]


def test_a_completed_client_transaction_keeps_only_the_bytes_it_may_send_again():
    # Timers D and K keep a transaction for up to 32 s: it must not hold its messages meanwhile.
    req = request()
    tx = InviteClientTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    (invite_bytes,) = tx.datagrams_to_send()
    assert invite_bytes == req.serialize() and tx.request is req
    busy = response(req, 486)
    tx.receive(busy, now=1.0)
    (first_ack,) = tx.datagrams_to_send()
    assert tx.state is State.COMPLETED and tx.request is None
    tx.receive(response(req, 486), now=2.0)  # a retransmission: the very same ACK again
    assert tx.datagrams_to_send() == [first_ack]
    assert [type(e) for e in events(tx)] == [ResponseReceived]

    bye = request("BYE")
    tx = NonInviteClientTransaction(bye, reliable=False, timers=TIMERS, now=0.0)
    tx.datagrams_to_send()
    tx.receive(response(bye, 200), now=0.1)
    assert tx.state is State.COMPLETED and tx.request is None
    tx.receive(response(bye, 200), now=0.2)  # absorbed
    assert tx.datagrams_to_send() == [] and [type(e) for e in events(tx)] == [ResponseReceived]


def test_a_client_transaction_retransmits_the_bytes_it_first_sent():
    req = request("OPTIONS")
    tx = NonInviteClientTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    (first,) = tx.datagrams_to_send()
    req.headers.set("Max-Forwards", "69")  # a later change to the object is not a retransmission
    tx.handle_timer(0.5)  # Timer E
    assert tx.datagrams_to_send() == [first]


def test_a_waiting_server_transaction_lets_go_of_its_messages_and_still_answers():
    req = request()
    tx = InviteServerTransaction(req, reliable=False, timers=TIMERS, now=0.0)
    assert not tx.answered
    ok = response(req, 200)
    tx.respond(ok, now=0.0)
    (sent,) = tx.datagrams_to_send()
    assert tx.state is State.ACCEPTED and tx.answered
    assert tx.request is None
    tx.respond(ok, now=0.5)  # the user's own 2xx retransmission goes through (RFC 6026)
    assert tx.datagrams_to_send() == [sent]

    options = request("OPTIONS")
    tx = NonInviteServerTransaction(options, reliable=False, timers=TIMERS, now=0.0)
    tx.respond(response(options, 200), now=0.0)
    (sent,) = tx.datagrams_to_send()
    assert tx.state is State.COMPLETED and tx.request is None
    tx.receive_request(options, now=0.3)  # a retransmitted request: the same bytes answer it
    assert tx.datagrams_to_send() == [sent]
