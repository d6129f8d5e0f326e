"""The outgoing INVITE's machine with a fake now: ringing, early answers, the dial timeout, CANCEL
only after a provisional response, 64*T1 after it, and what the transaction reports."""

from __future__ import annotations

from callgate.telephony.sip.dialog import UacInvite
from callgate.telephony.sip.outgoing import EarlyAnswer, Finished, OutgoingInvite, Ringing, State
from callgate.telephony.sip.transaction import ResponseReceived, TimedOut, TransportFailed
from tests.telephony.sip.test_dialog import VIA, answer, branches, invite

CANCEL_LIMIT = 32.0  # 64*T1


def attempt(deadline: float = 30.0) -> OutgoingInvite:
    return OutgoingInvite(UacInvite(invite(), VIA, branches()), deadline, CANCEL_LIMIT)


def response(out: OutgoingInvite, status: int, body: bytes = b"") -> ResponseReceived:
    resp = answer(out.uac.invite, status, "ttag", "sip:bob@127.0.0.1:5080")
    resp.body = body
    return ResponseReceived(resp)


def events(out: OutgoingInvite) -> list[object]:
    found = []
    while (event := out.next_event()) is not None:
        found.append(event)
    return found


def test_ringing_then_an_answer_acked_before_the_deadline():
    out = attempt()
    assert out.get_timer() == 30.0
    out.handle_event(response(out, 100), now=0.1)
    out.handle_event(ringing := response(out, 180), now=1.0)
    assert events(out) == [Ringing(ringing.response)] and out.requests_to_send() == []
    out.handle_timer(now=29.9)  # early: nothing happens
    assert out.state is State.CALLING and not out.timed_out
    out.handle_event(ok := response(out, 200), now=5.0)
    assert [r.method for r in out.requests_to_send()] == ["ACK"]
    assert events(out) == [Finished(ok.response)]
    assert out.state is State.TERMINATED and out.get_timer() is None and not out.timed_out


def test_a_provisional_response_with_sdp_is_an_early_answer():
    out = attempt()
    out.handle_event(progress := response(out, 183, b"v=0\r\n"), now=1.0)
    assert events(out) == [Ringing(progress.response), EarlyAnswer(progress.response)]
    out.handle_event(session := response(out, 181, b"v=0\r\n"), now=2.0)  # not ringing, but early audio
    assert events(out) == [EarlyAnswer(session.response)]


def test_the_deadline_after_a_provisional_response_sends_the_cancel_then_waits_64_t1():
    out = attempt()
    out.handle_event(response(out, 180), now=1.0)
    events(out)
    out.handle_timer(now=30.0)
    assert out.timed_out and out.state is State.CANCELING
    [cancel] = out.requests_to_send()
    assert cancel.method == "CANCEL" and cancel.vias[0].branch == out.uac.invite.vias[0].branch
    assert out.get_timer() == 30.0 + CANCEL_LIMIT
    out.handle_timer(now=61.9)
    assert events(out) == []
    out.handle_timer(now=62.0)  # no final response to the CANCEL: over
    assert events(out) == [Finished(None)] and out.requests_to_send() == []


def test_the_cancel_waits_for_a_provisional_response_when_the_deadline_comes_first():
    out = attempt()
    out.handle_timer(now=30.0)
    assert out.timed_out and out.state is State.WAITING and out.get_timer() is None
    assert out.requests_to_send() == []  # 9.1: no CANCEL before a provisional response
    out.handle_event(response(out, 100), now=31.0)
    assert [r.method for r in out.requests_to_send()] == ["CANCEL"]
    assert out.get_timer() == 31.0 + CANCEL_LIMIT
    out.handle_event(terminated := response(out, 487), now=31.2)
    assert events(out) == [Finished(terminated.response)]


def test_a_2xx_after_the_deadline_is_acked_and_reported_late():
    out = attempt()
    out.handle_event(response(out, 180), now=1.0)
    out.handle_timer(now=30.0)
    out.requests_to_send()
    out.handle_event(ok := response(out, 200), now=30.1)  # crossed our CANCEL
    assert [r.method for r in out.requests_to_send()] == ["ACK"]
    assert events(out)[-1] == Finished(ok.response) and out.timed_out


def test_timer_b_and_transport_failures_end_the_attempt_and_nothing_after_counts():
    out = attempt()
    out.handle_event(TimedOut("B"), now=32.0)
    assert events(out) == [Finished(None)]
    out.handle_event(response(out, 200), now=33.0)  # too late: the attempt is over
    assert events(out) == [] and out.requests_to_send() == []

    failed = attempt()
    failure = TransportFailed("connection refused")
    failed.handle_event(failure, now=0.0)
    assert events(failed) == [Finished(failure)]


def test_a_deadline_already_past_times_out_at_once():
    """A retry after a digest challenge keeps the dial's deadline."""
    out = attempt(deadline=5.0)
    out.handle_timer(now=6.0)
    assert out.timed_out and out.state is State.WAITING
