"""Requests no call claims get their final response, and their transactions end: no sockets, a fake now."""

from __future__ import annotations

import pytest

from callgate.telephony.sip.layer import ParseFailed, RequestReceived, TransactionEvent, TransactionLayer
from callgate.telephony.sip.message import Response, parse_datagram
from callgate.telephony.sip.timers import SipTimers
from callgate.telephony.sip.transaction import State, TimedOut
from callgate.telephony.sip.unclaimed import ALLOW, answer, bad_request

PEER = ("127.0.0.1", 5070)


def datagram(method: str, branch: str = "z9hG4bKu1", *, to_tag: str | None = None, call_id: str = "u-1",
             extra: str = "", cseq_method: str | None = None) -> bytes:  # fmt: skip
    to = "<sip:callgate@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:callgate@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:peer@127.0.0.1:5070>;tag=peer\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 7 {cseq_method or method}\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class Answering:
    """A transaction layer whose user answers every new request as the engine does."""

    def __init__(self, timers: SipTimers | None = None) -> None:
        self.layer = TransactionLayer(timers or SipTimers())
        self.timed_out = 0
        self.tags = (f"ours{n}" for n in range(1_000_000))

    def receive(self, data: bytes, now: float) -> None:
        self.layer.receive_datagram(data, PEER, now)
        self.run(now)

    def run(self, now: float) -> None:
        while (event := self.layer.next_event()) is not None:
            if isinstance(event, RequestReceived) and event.transaction is not None:
                request = event.request
                matches = request.method == "CANCEL" and self.layer.matches_invite(request)
                response = answer(request, to_tag=next(self.tags), matches_invite=matches)
                assert response is not None
                self.layer.respond(event.transaction, response, now)
            elif isinstance(event, TransactionEvent) and isinstance(event.event, TimedOut):
                self.timed_out += 1

    def sent(self) -> list[Response]:
        out = []
        for data, destination in self.layer.datagrams_to_send():
            assert destination == PEER
            response = parse_datagram(data)
            assert isinstance(response, Response)
            out.append(response)
        return out

    def advance(self, until: float) -> None:
        """Fire every timer due up to `until`, in order, as the endpoint's one `call_at` would."""
        while (deadline := self.layer.get_timer()) is not None and deadline <= until:
            self.layer.handle_timer(deadline)
            self.run(deadline)


CASES = [
    # (method, To tag, extra headers, status, reason)
    ("OPTIONS", None, "", 200, "OK"),
    ("BYE", "gone", "", 481, "Call/Transaction Does Not Exist"),
    ("BYE", None, "", 481, "Call/Transaction Does Not Exist"),
    ("INFO", "gone", "", 481, "Call/Transaction Does Not Exist"),
    ("UPDATE", None, "", 481, "Call/Transaction Does Not Exist"),
    ("INVITE", "gone", "", 481, "Call/Transaction Does Not Exist"),  # a re-INVITE of no dialog
    ("OPTIONS", "gone", "", 481, "Call/Transaction Does Not Exist"),  # an in-dialog keep-alive
    ("NOTIFY", "gone", "", 481, "Call/Transaction Does Not Exist"),
    ("CANCEL", None, "", 481, "Call/Transaction Does Not Exist"),  # no INVITE of that branch
    ("INVITE", None, "", 480, "Temporarily Unavailable"),
    ("INVITE", None, "Require: 100rel\r\n", 420, "Bad Extension"),
    ("OPTIONS", None, "Require: timer, 100rel\r\n", 420, "Bad Extension"),
    ("MESSAGE", None, "", 405, "Method Not Allowed"),
    ("REGISTER", None, "Require: path\r\n", 405, "Method Not Allowed"),  # 8.2.1 comes before 8.2.2.3
    ("FROBNICATE", None, "", 501, "Not Implemented"),
]


@pytest.mark.parametrize(("method", "to_tag", "extra", "status", "reason"), CASES)
def test_every_request_gets_one_final_response(method, to_tag, extra, status, reason):
    peer = Answering()
    peer.receive(datagram(method, to_tag=to_tag, extra=extra), now=0.0)
    (response,) = peer.sent()
    assert (response.status, response.reason, response.cseq.method) == (status, reason, method)
    assert response.call_id == "u-1" and response.from_.tag == "peer"
    assert response.to.tag == (to_tag or "ours0")  # 8.2.6.2: ours, unless the request had one
    assert response.vias[0].params["rport"] == "5070"
    assert (response.headers.get("Allow") is not None) == (status in (200, 405))
    if status in (200, 405):
        assert response.headers.get("Allow") == ALLOW
    if status == 200:
        assert response.headers.get("Accept") == "application/sdp"
    if status == 420:
        assert response.headers.get("Unsupported") == extra.split(": ", 1)[1].strip()


def test_an_ack_gets_nothing():
    request = parse_datagram(datagram("ACK", to_tag="t"))
    assert answer(request, to_tag="x") is None  # type: ignore[arg-type]
    peer = Answering()
    peer.receive(datagram("ACK", to_tag="t"), now=0.0)
    assert peer.sent() == [] and peer.layer._servers == {}


def test_a_cancel_of_an_answered_invite_gets_200_and_changes_nothing():
    peer = Answering()
    peer.receive(datagram("INVITE", branch="z9hG4bKinv"), now=0.0)
    (refused,) = peer.sent()
    assert refused.status == 480
    peer.receive(datagram("CANCEL", branch="z9hG4bKinv"), now=0.1)  # 9.2: the INVITE's branch
    peer.receive(datagram("CANCEL", branch="z9hG4bKelse"), now=0.1)
    assert [r.status for r in peer.sent()] == [200, 481]


def test_the_480_goes_again_until_the_ack_which_is_absorbed_then_the_transaction_ends():
    timers = SipTimers()
    peer = Answering(timers)
    peer.receive(datagram("INVITE", branch="z9hG4bKg"), now=0.0)
    (first,) = peer.sent()
    ((key, (tx, _)),) = peer.layer._servers.items()
    peer.advance(0.5)  # Timer G: T1
    peer.advance(1.5)  # then 2*T1
    assert [r.serialize() for r in peer.sent()] == [first.serialize()] * 2
    ack = datagram("ACK", branch="z9hG4bKg", to_tag=first.to.tag)  # the ACK of a non-2xx: same branch
    peer.receive(ack, now=1.6)
    assert tx.state is State.CONFIRMED and peer.layer.next_event() is None  # absorbed
    peer.receive(ack, now=1.7)  # and its retransmission too
    peer.advance(1.6 + timers.t4 - 0.01)
    assert peer.sent() == [] and tx.state is State.CONFIRMED
    peer.advance(1.6 + timers.t4)  # Timer I
    assert tx.state is State.TERMINATED and peer.layer._servers == {}


def test_a_480_never_acked_is_given_up_at_timer_h():
    timers = SipTimers()
    peer = Answering(timers)
    peer.receive(datagram("INVITE", branch="z9hG4bKh"), now=0.0)
    peer.advance(timers.timeout - 0.01)
    resent = peer.sent()[1:]
    assert len(resent) == 10 and {r.status for r in resent} == {480}  # G: 0.5 1 2 4 4 4 ... (up to T2)
    assert peer.layer._servers != {}
    peer.advance(timers.timeout)  # Timer H
    assert peer.timed_out == 1 and peer.layer._servers == {}


def test_many_unclaimed_requests_leave_no_transaction_behind():
    """A flood of requests, every kind: each is answered, and as the fake clock passes Timers J, H and
    I nothing of them is left in the layer (transactions, deadlines, heap entries)."""
    timers = SipTimers()
    peer = Answering(timers)
    kinds = [("OPTIONS", None), ("BYE", "t"), ("INFO", "t"), ("CANCEL", None), ("INVITE", None),
             ("INVITE", "t"), ("MESSAGE", None), ("SOMETHING", None)]  # fmt: skip
    count = 4000
    acked = 0
    for n in range(count):
        method, tag = kinds[n % len(kinds)]
        now = n * 0.001  # 4000 requests in 4 s
        peer.receive(datagram(method, branch=f"z9hG4bKf{n}", to_tag=tag, call_id=f"flood-{n}"), now)
        (response,) = peer.sent()
        assert response.status >= 200
        if method == "INVITE" and (n // len(kinds)) % 2:  # half the refused INVITEs are ACKed
            peer.receive(datagram("ACK", branch=f"z9hG4bKf{n}", to_tag=response.to.tag,
                                  call_id=f"flood-{n}"), now)  # fmt: skip
            acked += 1
    assert len(peer.layer._servers) == count  # every one still absorbs retransmissions
    peer.advance(4.0 + timers.t4 + 0.01)  # Timer I: the ACKed INVITEs are done
    assert len(peer.layer._servers) == count - acked
    peer.advance(4.0 + timers.timeout + 0.01)  # Timers J and H: everything else
    assert peer.layer._servers == {} and peer.layer._where == {} and peer.layer._pushed == {}
    assert peer.layer.get_timer() is None and peer.layer._heap == []
    invites = 2 * count // len(kinds)
    assert acked == invites // 2 and peer.timed_out == invites - acked  # those nobody ACKed: Timer H


def test_a_request_that_does_not_parse_gets_400_with_the_reason():
    layer = TransactionLayer(SipTimers())
    data = datagram("OPTIONS", cseq_method="INFO")
    layer.receive_datagram(data, PEER, now=0.0)
    failed = layer.next_event()
    assert isinstance(failed, ParseFailed) and failed.data == data
    response = bad_request(failed.data, failed.reason, to_tag="ours")
    assert response is not None
    assert (response.status, response.reason) == (
        400,
        "Bad Request (CSeq method INFO does not match the OPTIONS request)",
    )
    assert response.headers.get("CSeq") == "7 INFO" and response.to.tag == "ours"
    assert response.call_id == "u-1" and response.vias[0].branch == "z9hG4bKu1"
    layer.respond_statelessly(response, ("127.0.0.1", 40000))
    ((sent, destination),) = layer.datagrams_to_send()
    assert destination == ("127.0.0.1", 40000)  # rport: the packet's source
    assert parse_datagram(sent).status == 400  # type: ignore[union-attr]
    assert layer._servers == {}  # stateless: nothing is kept


def test_a_400_echoes_what_there_is_and_keeps_a_to_tag():
    data = datagram("OPTIONS", to_tag="theirs").replace(b"Call-ID: u-1\r\n", b"")
    response = bad_request(data, "missing Call-ID header", to_tag="ours")
    assert response is not None and response.reason == "Bad Request (missing Call-ID header)"
    assert response.headers.get("Call-ID") is None and response.to.tag == "theirs"
    bad_to = datagram("OPTIONS").replace(b"To: <sip:callgate@127.0.0.1>", b"To: <sip:callgate@")
    response = bad_request(bad_to, "bad To", to_tag="ours")
    assert response is not None and response.headers.get("To") == "<sip:callgate@"


@pytest.mark.parametrize(
    "data",
    [
        b"NOT SIP AT ALL\r\n\r\n",  # no request line
        b"OPTIONS sip:x SIP/2.0\r\nno colon here\r\n\r\n",  # headers that do not read
        datagram("ACK", cseq_method="BYE"),  # an ACK is never answered
        datagram("OPTIONS").replace(b"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKu1;rport\r\n", b""),
        datagram("OPTIONS").replace(b"CSeq: 7 OPTIONS", b"CSeq: seven OPTIONS"),  # cannot be matched
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKr\r\nCSeq: 1\r\n\r\n",  # a response
    ],
    ids=["garbage", "header-line", "ack", "no-via", "bad-cseq", "response"],
)
def test_what_cannot_be_answered_gets_nothing(data):
    assert bad_request(data, "whatever", to_tag="ours") is None
