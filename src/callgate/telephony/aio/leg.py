"""The outbound call leg the engine dials with: INVITE, ringing, answer or failure, hang-up, cancel.

leg = CallLeg(endpoint, target="sip:bob@127.0.0.1:5070", destination=("127.0.0.1", 5070), ...)
outcome = await leg.dial(timeout_s=30)      # answered / busy / declined / no-answer / failed
await leg.hangup()                           # BYE, if it was answered
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import Enum
from functools import partial

from callgate.telephony.aio.endpoint import SipEndpoint, resolve
from callgate.telephony.aio.entropy import token_hex
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.sip.dialog import Dialog, UacInvite, Via, build_cancel, build_invite, next_hop
from callgate.telephony.sip.digest import DigestClient
from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.layer import Address, RequestReceived, StrayResponse
from callgate.telephony.sip.message import Request, Response, response_for
from callgate.telephony.sip.outgoing import Finished, OutgoingInvite, Ringing
from callgate.telephony.sip.sdp import (
    Negotiated,
    SessionDescription,
    answer_offer,
    build_offer,
    negotiate_answer,
)
from callgate.telephony.sip.transaction import Event, ResponseReceived, TimedOut, TransportFailed
from callgate.telephony.sip.uri import NameAddress, SipUri, display_name, escape_user


class Outcome(Enum):
    ANSWERED = "answered"
    BUSY = "busy"
    DECLINED = "declined"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DialResult:
    outcome: Outcome
    status: int | None
    reason: str


def _outcome(status: int) -> Outcome:
    if status in (486, 600):
        return Outcome.BUSY
    if status in (603, 607):
        return Outcome.DECLINED
    if status in (408, 480, 487):
        return Outcome.NO_ANSWER
    return Outcome.FAILED


def new_branch() -> str:
    return "z9hG4bK" + token_hex(8)


@dataclass
class CallLeg:
    """One outbound call over `endpoint`.

    The INVITE goes to `destination`. Requests inside the dialog go where RFC 3261 12.2.1.1 says: the
    first hop of the route set, else the far end's Contact; unless `outbound_proxy` says `destination`
    is a proxy that must see every request (a trunk), in which case a dialog without a route set still
    goes through it.

    With `media`, the INVITE offers SDP from that stream and the answer connects it, early (a 1xx with
    SDP, `early_media` set) or at the 2xx. The leg closes the stream when the call ends (its hangup or
    the far end's BYE); after a dial that did not answer, the caller closes it.
    """

    endpoint: SipEndpoint
    target: str
    destination: Address
    from_user: str
    outbound_proxy: bool = False
    caller_name: str | None = None
    credentials: tuple[str, str] | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    call_id: str = field(default_factory=lambda: token_hex(12) + "@callgate")
    ringing: asyncio.Event = field(default_factory=asyncio.Event)
    remote_hangup: asyncio.Event = field(default_factory=asyncio.Event)
    final_status: int | None = None
    dialog: Dialog | None = None
    #: the call's audio: its address goes in the SDP offer; the answer connects it
    media: RtpStream | None = None
    negotiated: Negotiated | None = None
    early_media: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        host, port = self.endpoint.local_address
        self._via = Via(host, port, self.endpoint.via_transport)
        self._from_tag = token_hex(6)
        self._cseq = 1
        self._invite: Request | None = None
        self._hops: dict[tuple[str, int], Address] = {}
        self._hop_keys: dict[tuple[str, str | None], tuple[tuple[str, int] | None]] = {}
        self._timed_out = False  # the dial timeout passed (a CANCEL is sent or waits for a 1xx)
        self._offer: SessionDescription | None = None
        self._sdp_version = 1
        self._sdp_session = int.from_bytes(bytes.fromhex(token_hex(4)), "big")

    async def dial(self, timeout_s: float) -> DialResult:
        """Place the call; CANCEL it if nobody answers within `timeout_s` (RFC 3261 9.1).

        If the task running `dial` is cancelled, the INVITE is canceled on the wire too (or, if it was
        already answered, hung up), so no call is left up at the far end.
        """
        try:
            return await self._dial(timeout_s)
        except asyncio.CancelledError:
            self._abandon()
            raise

    def _abandon(self) -> None:
        if self.dialog is not None:
            bye = self.dialog.request("BYE", via=self._via, branch=new_branch())
            self.endpoint.send_request(bye, self._cached_hop(bye))
        elif self._invite is not None:
            self.endpoint.send_request(build_cancel(self._invite), self.destination)
        self.endpoint.unregister_call(self.call_id)

    async def _dial(self, timeout_s: float) -> DialResult:
        digest = DigestClient(*self.credentials, cnonce=lambda: token_hex(8)) if self.credentials else None
        auth: list[tuple[str, str]] = []
        if self.media is not None and not self.body:
            host, port = self.media.local_address
            self._offer = build_offer(
                host, port, self._sdp_session, self._sdp_version, **self.media.sdp_ssrc()
            )
            self.body = self._offer.serialize()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            host, port = self._via.host, self._via.port
            invite = build_invite(
                target=self.target,
                from_addr=self._from_addr(host),
                from_tag=self._from_tag,
                to_addr=f"<{self.target}>",
                call_id=self.call_id,
                cseq=self._cseq,
                contact=f"sip:callgate@{f'[{host}]' if ':' in host else host}:{port}"
                + (f";transport={self._via.transport.lower()}" if self._via.transport != "UDP" else ""),
                via=self._via,
                branch=new_branch(),
                body=self.body,
                extra_headers=self.extra_headers + tuple(auth),
            )
            self._invite = invite
            uac = UacInvite(invite, self._via, new_branch)
            self.endpoint.register_call(self.call_id, self._in_dialog_request, partial(self._stray, uac))
            queue = self.endpoint.send_request(invite, self.destination)
            assert queue is not None
            response = await self._await_final(queue, uac, deadline)
            if isinstance(response, TransportFailed):
                self.endpoint.unregister_call(self.call_id)
                self.final_status = 503  # 8.1.3.1: a transport failure counts as a 503
                return DialResult(Outcome.FAILED, 503, f"Service Unavailable ({response.reason})")
            if response is None:
                self.endpoint.unregister_call(self.call_id)
                return DialResult(Outcome.FAILED, 408, "Request Timeout")
            self.final_status = response.status
            if response.status in (401, 407) and digest is not None:
                header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
                if digest.challenged(response.status, response.headers.get_all(header)):
                    auth = digest.headers(method="INVITE", uri=self.target, body=self.body)
                    self._cseq += 1  # 22.2: the retry is a new transaction of the same dialog attempt
                    continue
            if 200 <= response.status < 300 and self._timed_out:
                # Answered after our timeout (the 2xx crossed our CANCEL, or came before any 1xx let
                # us send one): the 2xx is ACKed already; hang it up (RFC 3261 9.1, 15) and report
                # the call as the caller sees it, unanswered in time.
                if uac.confirmed is not None:
                    bye = uac.confirmed.request("BYE", via=self._via, branch=new_branch())
                    self.endpoint.send_request(bye, await self._hop(bye))
                self.endpoint.unregister_call(self.call_id)
                return DialResult(Outcome.NO_ANSWER, 487, "Request Terminated")
            if 200 <= response.status < 300:
                self.dialog = uac.confirmed
                problem = self._connect_media(response)
                if problem is not None:
                    # RFC 3264: an answer we cannot use. The 2xx is ACKed; hang up.
                    await self.hangup()
                    return DialResult(Outcome.FAILED, 488, f"Not Acceptable Here ({problem})")
                return DialResult(Outcome.ANSWERED, response.status, response.reason)
            self.endpoint.unregister_call(self.call_id)
            return DialResult(_outcome(response.status), response.status, response.reason)

    async def _await_final(
        self, queue: asyncio.Queue[Event], uac: UacInvite, deadline: float
    ) -> Response | TransportFailed | None:
        """The INVITE's final response (None on Timer B, TransportFailed if it could not be sent);
        `OutgoingInvite` decides (the CANCEL past `deadline`, after a provisional response), this
        moves its requests and waits for its timer."""
        loop = asyncio.get_running_loop()
        # RFC 3261 9.1: 64*T1 after a CANCEL without a final response, the INVITE is over.
        attempt = OutgoingInvite(uac, deadline, self.endpoint.layer.timers.timeout)
        while True:
            for request in attempt.requests_to_send():
                # A CANCEL goes where the INVITE went (9.1); ACKs along the dialog's route.
                hop = self.destination if request.method == "CANCEL" else await self._hop(request)
                self.endpoint.send_request(request, hop)
            while (outgoing := attempt.next_event()) is not None:
                if isinstance(outgoing, Finished):
                    self._timed_out = self._timed_out or attempt.timed_out
                    return outgoing.result
                if isinstance(outgoing, Ringing):
                    self.ringing.set()
                elif self.media is not None and self.negotiated is None:
                    # Early media (RFC 3960): an SDP answer in a provisional response starts the audio
                    # now, so ringback and announcements ("the number you have called...") are heard.
                    if self._connect_media(outgoing.response) is None:
                        self.early_media.set()
            self._timed_out = self._timed_out or attempt.timed_out
            timer = attempt.get_timer()
            try:
                if queue.empty():
                    timeout = None if timer is None else max(0.0, timer - loop.time())
                    async with asyncio.timeout(timeout):  # no task per wait, unlike wait_for on 3.11
                        event = await queue.get()
                else:
                    event = queue.get_nowait()
            except TimeoutError:
                assert timer is not None
                attempt.handle_timer(max(loop.time(), timer))  # (the loop may wake a clock tick early)
                continue
            attempt.handle_event(event, loop.time())

    def _connect_media(self, response: Response) -> str | None:
        """Start the audio the answer describes; the reason it cannot, if so."""
        if self.media is None or self._offer is None:
            return None
        if not response.body:
            # A 2xx without SDP after early media keeps the early answer (RFC 3261 13.2.1).
            return None if self.negotiated is not None else "the answer has no SDP"
        try:
            self.negotiated = negotiate_answer(self._offer, SessionDescription.parse(response.body))
        except RemoteProtocolError as exc:
            return exc.reason
        self.media.apply(self.negotiated)
        return None

    def _answer_reoffer(self, request: Request) -> Response:
        """A re-INVITE with an offer (hold, resume, a new address): answered from our stream."""
        assert self.media is not None
        try:
            offer = SessionDescription.parse(request.body)
            host, port = self.media.local_address
            self._sdp_version += 1
            answer, negotiated = answer_offer(
                offer, host, port, self._sdp_session, self._sdp_version, **self.media.sdp_ssrc()
            )
        except RemoteProtocolError as exc:
            return response_for(request, 488, f"Not Acceptable Here ({exc.reason})"[:120])
        self.negotiated = negotiated
        self.media.apply(negotiated)
        host, port = self._via.host, self._via.port
        response = response_for(request, 200, "OK", contact=f"sip:callgate@{host}:{port}")
        response.headers.set("Content-Type", "application/sdp")
        response.body = answer.serialize()
        response.with_content_length()
        return response

    def _stray(self, uac: UacInvite, event: StrayResponse) -> None:
        # A retransmitted 2xx after the INVITE transaction ended: ACK it again (13.2.2.4).
        if event.response.cseq.method == "INVITE":
            for request in uac.on_response(event.response):
                self.endpoint.send_request(request, self._cached_hop(request))

    def _in_dialog_request(self, event: RequestReceived) -> None:
        """Requests inside our dialog (12.2.2): BYE ends the call; a session refresh (re-INVITE,
        UPDATE) is refused with 488 until media can answer it; anything else is 501. A request
        whose tags are not our dialog's gets 481."""
        request, tx = event.request, event.transaction
        if tx is None:
            return  # an ACK
        dialog = self.dialog
        matches = (
            dialog is not None
            and request.to.tag == dialog.local_tag
            and request.from_.tag == dialog.remote_tag
        )
        if not matches:
            status, reason = 481, "Call/Transaction Does Not Exist"
        elif request.method == "BYE":
            status, reason = 200, "OK"
        elif request.method == "INVITE" and self.media is not None and request.body:
            self.endpoint.respond(tx, self._answer_reoffer(request))
            return
        elif request.method in ("INVITE", "UPDATE"):
            status, reason = 488, "Not Acceptable Here"
        elif request.method == "OPTIONS":
            status, reason = 200, "OK"
        else:
            status, reason = 501, "Not Implemented"
        self.endpoint.respond(tx, response_for(request, status, reason))
        if matches and request.method == "BYE":
            self.remote_hangup.set()
            self.endpoint.unregister_call(self.call_id)
            if self.media is not None:
                self.media.close()

    async def hangup(self) -> int | None:
        """Send BYE on the answered call; the final status of the BYE (None without a dialog)."""
        if self.media is not None:
            self.media.close()
        if self.dialog is None:
            return None
        bye = self.dialog.request("BYE", via=self._via, branch=new_branch())
        queue = self.endpoint.send_request(bye, await self._hop(bye))
        assert queue is not None
        while True:
            event = await queue.get()
            if isinstance(event, TimedOut | TransportFailed):
                self.endpoint.unregister_call(self.call_id)
                return 408 if isinstance(event, TimedOut) else 503
            if isinstance(event, ResponseReceived) and event.response.status >= 200:
                self.endpoint.unregister_call(self.call_id)
                return event.response.status

    def _from_addr(self, host: str) -> str:
        """Our From: the caller id as the user part (escaped), the caller name quoted as needed."""
        uri = SipUri(host=host if ":" not in host else f"[{host}]", user=escape_user(self.from_user))
        name = display_name(self.caller_name) if self.caller_name else None
        return NameAddress(uri, name or None).serialize()

    def _hop_key(self, request: Request) -> tuple[str, int] | None:
        """The (host, port) an in-dialog request goes to; None for `destination`."""
        route = request.headers.get("Route")
        if self.outbound_proxy and route is None:
            return None
        seen = self._hop_keys.get((request.uri, route))
        if seen is not None:
            return seen[0]
        try:
            host, port, transport = next_hop(request)
            key: tuple[str, int] | None = (host, port or (5061 if transport == "tls" else 5060))
        except RemoteProtocolError:
            key = None  # a tel: or odd Contact: keep to the address that answered
        self._hop_keys[(request.uri, route)] = (key,)
        return key

    def _cached_hop(self, request: Request) -> Address:
        key = self._hop_key(request)
        return self.destination if key is None else self._hops.get(key, self.destination)

    async def _hop(self, request: Request) -> Address:
        """Resolve the next hop of an in-dialog request once per (host, port) of the call."""
        key = self._hop_key(request)
        if key is None:
            return self.destination
        if key not in self._hops:
            try:
                self._hops[key] = await resolve(*key, self.endpoint)
            except OSError:
                self._hops[key] = self.destination  # a name that does not resolve: the known address
        return self._hops[key]
