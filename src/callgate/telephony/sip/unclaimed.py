"""The answers a user agent gives the requests that no call of its own claims (RFC 3261 8.2), pure.

Theory of operation: the transaction layer makes a server transaction of every new request. One whose
Call-ID no call has taken comes here for its final response, at once, so that its transaction ends
(Timer J; for an INVITE Timers G and H, or the ACK and Timer I) and nothing waits for a user that will
never answer. The rules, first match wins:

- ACK: no response (the ACK of a non-2xx final response is its transaction's; of a 2xx, the dialog's).
- A To tag names a dialog, and there is none: 481 (12.2.2), whatever the method. So does a method
  that only lives inside a dialog (BYE, INFO, UPDATE, PRACK) and a CANCEL that matches no INVITE
  transaction (9.2). A CANCEL that matches one gets 200: that INVITE has had its final response,
  which the CANCEL does not change.
- A method we know but do not take here gets 405 with Allow (21.4.6); one we do not know, 501 (21.5.2).
- An OPTIONS or INVITE that requires an extension gets 420 with Unsupported (8.2.2.3): we have none.
- OPTIONS: 200 with what we take (11.2). INVITE: 480 Temporarily Unavailable (inbound calls are not
  taken yet).

`bad_request` is the 400 of a request that did not parse, when it can still be answered.
"""

from __future__ import annotations

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.message import Request, Response, parse_head, response_for
from callgate.telephony.sip.uri import NameAddress

#: the methods a call of ours takes (RFC 3261 20.5): a new INVITE is refused for now, not unknown
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
#: the methods that only mean something inside a dialog
IN_DIALOG = frozenset({"BYE", "INFO", "UPDATE", "PRACK"})
#: methods of RFC 3261 and its extensions that we know and do not take (405, not 501)
KNOWN = frozenset({"REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER"})

NO_DIALOG = (481, "Call/Transaction Does Not Exist")


def answer(request: Request, *, to_tag: str, matches_invite: bool = False) -> Response | None:
    """The final response to `request`, which no call claims; None for an ACK. `to_tag` is a fresh
    random tag (8.2.6.2, 19.3); `matches_invite` says whether a CANCEL matches an INVITE transaction
    (`TransactionLayer.matches_invite`)."""
    method = request.method
    if method == "ACK":
        return None
    if request.to.tag is not None or method in IN_DIALOG:
        return response_for(request, *NO_DIALOG, to_tag=to_tag)
    if method == "CANCEL":
        status, reason = (200, "OK") if matches_invite else NO_DIALOG
        return response_for(request, status, reason, to_tag=to_tag)
    if method not in ("OPTIONS", "INVITE"):
        if method in KNOWN:
            response = response_for(request, 405, "Method Not Allowed", to_tag=to_tag)
            response.headers.set("Allow", ALLOW)
            return response
        return response_for(request, 501, "Not Implemented", to_tag=to_tag)
    required = request.headers.get_all("Require")
    if required:
        response = response_for(request, 420, "Bad Extension", to_tag=to_tag)
        response.headers.set("Unsupported", ", ".join(required))
        return response
    if method == "INVITE":
        return response_for(request, 480, "Temporarily Unavailable", to_tag=to_tag)
    response = response_for(request, 200, "OK", to_tag=to_tag)
    response.headers.set("Allow", ALLOW)
    response.headers.set("Accept", "application/sdp")
    response.headers.set("Accept-Encoding", "identity")
    response.headers.set("Accept-Language", "en")
    return response


def bad_request(data: bytes, reason: str, *, to_tag: str) -> Response | None:
    """The 400 (RFC 3261 21.4.1) of a datagram that failed to parse for `reason`, when it is a request
    (not an ACK) whose top Via and CSeq read: the response must find its way back (18.2.2) and match
    its client transaction (17.1.3). None for anything else, which gets no answer. The reason phrase
    says what is wrong; whatever the request has of From, To and Call-ID is echoed."""
    try:
        request = parse_head(data)
        if not isinstance(request, Request) or request.method == "ACK" or not request.vias:
            return None
        request.cseq  # noqa: B018 - parsing is the check
    except RemoteProtocolError:
        return None
    response = Response(status=400, reason=f"Bad Request ({reason})"[:160])
    headers = request.headers
    for via in headers.get_all("Via"):
        response.headers.add("Via", via)
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = headers.get(name)
        if value is None:
            continue
        if name == "To":
            try:
                if NameAddress.parse(value).tag is None:
                    value = f"{value};tag={to_tag}"
            except RemoteProtocolError:
                pass  # echoed as it came
        response.headers.add(name, value)
    response.headers.add("Content-Length", "0")
    return response
