"""Dialogs at the UAC: early and confirmed, route sets, ACK of 2xx, BYE, CANCEL, forking."""

from __future__ import annotations

import itertools

from callgate.telephony.sip.dialog import DialogState, UacInvite, Via, build_cancel, build_invite, next_hop
from callgate.telephony.sip.message import Request, Response, parse_datagram

VIA = Via("127.0.0.1", 5060)


def invite() -> Request:
    built = build_invite(
        target="sip:+14155550100@127.0.0.1:5080",
        from_addr='"Callgate" <sip:+14155550199@127.0.0.1>',
        from_tag="ftag",
        to_addr="<sip:+14155550100@127.0.0.1:5080>",
        call_id="dlg-1@127.0.0.1",
        cseq=10,
        contact="sip:callgate@127.0.0.1:5060",
        via=VIA,
        branch="z9hG4bKinv",
        body=b"v=0\r\n",
        extra_headers=(("X-Callgate-Call", "CA123"),),
    )
    parsed = parse_datagram(built.serialize())  # what goes on the wire parses back
    assert isinstance(parsed, Request)
    return parsed


def answer(
    req: Request, status: int, tag: str, contact: str, record_route: list[str] | None = None
) -> Response:
    resp = Response(status=status, reason="X")
    resp.headers.add("Via", req.headers.get("Via") or "")
    for route in record_route or []:
        resp.headers.add("Record-Route", route)
    resp.headers.add("From", req.headers.get("From") or "")
    resp.headers.add("To", f"{req.headers.get('To')};tag={tag}")
    resp.headers.add("Call-ID", req.call_id)
    resp.headers.add("CSeq", req.headers.get("CSeq") or "")
    resp.headers.add("Contact", f"<{contact}>")
    resp.headers.add("Content-Length", "0")
    return resp


def branches():
    counter = itertools.count(1)
    return lambda: f"z9hG4bKb{next(counter)}"


def test_the_invite_on_the_wire():
    req = invite()
    assert req.headers.get("Content-Length") == "5" and req.headers.get("Content-Type") == "application/sdp"
    assert req.from_.tag == "ftag" and req.to.tag is None
    assert req.vias[0].branch == "z9hG4bKinv" and "rport" in req.vias[0].params
    assert req.headers.get("X-Callgate-Call") == "CA123"


def test_early_then_confirmed_with_loose_routes():
    req = invite()
    uac = UacInvite(req, VIA, branches())
    rr = ["<sip:127.0.0.1:5091;lr>", "<sip:127.0.0.1:5090;lr>"]
    assert uac.on_response(answer(req, 180, "a", "sip:phone@127.0.0.1:5080", rr)) == []
    (dialog,) = uac.dialogs.values()
    assert dialog.state is DialogState.EARLY
    (ack,) = uac.on_response(answer(req, 200, "a", "sip:phone@10.0.0.9:5080", rr))
    assert dialog.state is DialogState.CONFIRMED and uac.confirmed is dialog
    # 13.2.2.4: same CSeq number, method ACK; loose routing keeps the remote target as Request-URI.
    assert (ack.method, ack.uri, ack.cseq.seq) == ("ACK", "sip:phone@10.0.0.9:5080", 10)
    assert ack.headers.get_all("Route") == list(reversed(rr))
    assert ack.to.tag == "a" and ack.from_.tag == "ftag" and ack.vias[0].branch == "z9hG4bKb1"
    bye = dialog.request("BYE", via=VIA, branch="z9hG4bKbye")
    assert (bye.method, bye.cseq.seq, bye.call_id) == ("BYE", 11, "dlg-1@127.0.0.1")
    assert parse_datagram(bye.serialize()).to.tag == "a"


def test_strict_route_moves_the_target_into_the_route_set():
    req = invite()
    uac = UacInvite(req, VIA, branches())
    (ack,) = uac.on_response(
        answer(req, 200, "s", "sip:phone@127.0.0.1:5080", ["<sip:proxy@127.0.0.1:5090;maddr=x>"])
    )
    assert ack.uri == "sip:proxy@127.0.0.1:5090"
    assert ack.headers.get_all("Route") == ["<sip:phone@127.0.0.1:5080>"]


def test_forking_first_2xx_wins_and_the_next_is_acked_and_hung_up():
    req = invite()
    uac = UacInvite(req, VIA, branches())
    uac.on_response(answer(req, 180, "a", "sip:a@127.0.0.1:5081"))
    uac.on_response(answer(req, 183, "b", "sip:b@127.0.0.1:5082"))
    assert {t: d.state for t, d in uac.dialogs.items()} == {"a": DialogState.EARLY, "b": DialogState.EARLY}
    (ack_b,) = uac.on_response(answer(req, 200, "b", "sip:b@127.0.0.1:5082"))
    assert ack_b.uri == "sip:b@127.0.0.1:5082" and uac.confirmed is uac.dialogs["b"]
    ack_a, bye_a = uac.on_response(answer(req, 200, "a", "sip:a@127.0.0.1:5081"))
    assert (ack_a.method, bye_a.method) == ("ACK", "BYE")
    assert ack_a.uri == bye_a.uri == "sip:a@127.0.0.1:5081" and bye_a.to.tag == "a"
    assert uac.dialogs["a"].state is DialogState.TERMINATED and uac.confirmed is uac.dialogs["b"]
    # A retransmitted 2xx of the winner is ACKed again (the dialog ACKs every 2xx it sees).
    (again,) = uac.on_response(answer(req, 200, "b", "sip:b@127.0.0.1:5082"))
    assert again.method == "ACK" and again.cseq.seq == 10


def test_no_dialog_from_100_or_failures_or_tagless_responses():
    req = invite()
    uac = UacInvite(req, VIA, branches())
    assert uac.on_response(answer(req, 100, "x", "sip:x@127.0.0.1")) == []
    assert uac.on_response(answer(req, 486, "y", "sip:y@127.0.0.1")) == []
    assert uac.dialogs == {}


def test_cancel_follows_rfc_3261_9_1():
    req = invite()
    cancel = parse_datagram(build_cancel(req).serialize())
    assert (cancel.method, cancel.uri, cancel.call_id) == ("CANCEL", req.uri, req.call_id)
    assert cancel.cseq.seq == req.cseq.seq and cancel.cseq.method == "CANCEL"
    assert cancel.vias[0].branch == req.vias[0].branch
    assert cancel.headers.get("From") == req.headers.get("From") and cancel.to.tag is None
    assert cancel.body == b""


def test_a_provisional_without_contact_makes_no_early_dialog():
    req = invite()
    uac = UacInvite(req, VIA, branches())
    ringing = answer(req, 180, "a", "sip:a@127.0.0.1")
    ringing.headers.remove("Contact")
    assert uac.on_response(ringing) == [] and uac.dialogs == {}
    ok = answer(req, 200, "a", "sip:a@127.0.0.1")
    ok.headers.remove("Contact")
    (ack,) = uac.on_response(ok)
    assert ack.uri == req.uri  # no Contact in the 2xx: the Request-URI stays the target


def test_next_hop_is_the_first_route_else_the_request_uri():
    req = invite()
    uac = UacInvite(req, VIA, branches())
    (ack,) = uac.on_response(
        answer(req, 200, "a", "sip:phone@10.0.0.9:5080", ["<sip:[::1]:5091;lr;transport=tcp>"])
    )
    assert next_hop(ack) == ("::1", 5091, "tcp")
    (direct,) = UacInvite(req, VIA, branches()).on_response(answer(req, 200, "b", "sip:phone@10.0.0.9"))
    assert next_hop(direct) == ("10.0.0.9", None, "udp")
    # A strict router is the Request-URI itself.
    (strict,) = UacInvite(req, VIA, branches()).on_response(
        answer(req, 200, "c", "sip:phone@10.0.0.9", ["<sip:proxy.example:5090>"])
    )
    assert next_hop(strict) == ("proxy.example", 5090, "udp")


def test_the_ack_of_a_2xx_carries_the_invite_s_credentials():
    req = invite()
    req.headers.add("Proxy-Authorization", 'Digest username="alice", realm="p"')
    req.headers.add("Authorization", 'Digest username="alice", realm="f"')
    (ack,) = UacInvite(req, VIA, branches()).on_response(answer(req, 200, "a", "sip:phone@10.0.0.9"))
    assert ack.headers.get("Proxy-Authorization") == 'Digest username="alice", realm="p"'
    assert ack.headers.get("Authorization") == 'Digest username="alice", realm="f"'
