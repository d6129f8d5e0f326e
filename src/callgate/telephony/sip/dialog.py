"""Dialogs (RFC 3261 12) and the UAC side of an INVITE (13.2), as pure objects.

Theory of operation: the UAC builds an INVITE (`build_invite`) and hands it to an
`InviteClientTransaction`. Every response with a To tag makes or updates a dialog in `UacInvite`:
a 1xx makes it Early, a 2xx Confirmed. The first 2xx wins; a 2xx from another fork (another To tag)
is answered with ACK then BYE (13.2.2.4), so only one dialog survives. In-dialog requests (ACK for the
2xx, BYE, re-INVITE) are built by the `Dialog` from its route set and remote target, with loose or
strict routing as 12.2.1.1 says. `build_cancel` makes the CANCEL of 9.1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.message import Request, Response
from callgate.telephony.sip.uri import NameAddress, SipUri, parse_uri


class DialogState(Enum):
    EARLY = "Early"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


@dataclass(frozen=True, slots=True)
class Via:
    """Where this UA says it is: the sent-by of the Via headers it writes."""

    host: str
    port: int
    transport: str = "UDP"

    def header(self, branch: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"SIP/2.0/{self.transport} {host}:{self.port};branch={branch};rport"


def build_invite(
    *,
    target: str,
    from_addr: str,
    from_tag: str,
    to_addr: str,
    call_id: str,
    cseq: int,
    contact: str,
    via: Via,
    branch: str,
    body: bytes = b"",
    content_type: str | None = None,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> Request:
    """A dialog-creating INVITE (RFC 3261 8.1.1, 13.2.1). `from_addr`/`to_addr` are name-addr values."""
    invite = Request(method="INVITE", uri=target)
    headers = invite.headers
    headers.add("Via", via.header(branch))
    headers.add("Max-Forwards", "70")
    headers.add("From", f"{from_addr};tag={from_tag}")
    headers.add("To", to_addr)
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{cseq} INVITE")
    headers.add("Contact", f"<{contact}>")
    headers.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")
    for name, value in extra_headers:
        headers.add(name, value)
    if body:
        headers.add("Content-Type", content_type or "application/sdp")
    invite.body = body
    invite.with_content_length()
    return invite


def build_cancel(invite: Request) -> Request:
    """CANCEL of a pending INVITE (RFC 3261 9.1): same Request-URI, Call-ID, To, From, CSeq number
    and top Via (so the same branch), method CANCEL, the INVITE's Route headers, no body."""
    cancel = Request(method="CANCEL", uri=invite.uri)
    cancel.headers.add("Via", invite.headers.get_all("Via")[0])
    for route in invite.headers.get_all("Route"):
        cancel.headers.add("Route", route)
    cancel.headers.add("Max-Forwards", "70")
    cancel.headers.add("From", invite.headers.get("From") or "")
    cancel.headers.add("To", invite.headers.get("To") or "")
    cancel.headers.add("Call-ID", invite.call_id)
    cancel.headers.add("CSeq", f"{invite.cseq.seq} CANCEL")
    cancel.headers.add("Content-Length", "0")
    return cancel


@dataclass(slots=True)
class Dialog:
    """One dialog, seen from this UA: the state of 12.1 and the request building of 12.2.1."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_addr: str  # our From (name-addr, without the tag)
    remote_addr: str  # their To (name-addr, without the tag)
    local_seq: int
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    state: DialogState = DialogState.EARLY

    @classmethod
    def from_uac_response(cls, invite: Request, response: Response) -> Dialog:
        """The dialog a response with a To tag makes at the UAC (12.1.2)."""
        to = response.to
        if to.tag is None:
            raise RemoteProtocolError("a dialog needs a To tag in the response")
        contacts = response.headers.get_all("Contact")
        from_ = invite.from_
        return cls(
            call_id=invite.call_id,
            local_tag=from_.tag or "",
            remote_tag=to.tag,
            local_addr=_untagged(from_),
            remote_addr=_untagged(to),
            local_seq=invite.cseq.seq,
            # A 2xx must carry a Contact (13.3.1.4); tolerate one that does not by keeping the
            # Request-URI as the target.
            remote_target=NameAddress.parse(contacts[0]).uri.serialize() if contacts else invite.uri,
            # 12.1.2: the UAC's route set is the Record-Route of the response, reversed.
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            state=DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY,
        )

    @classmethod
    def from_uas_request(cls, invite: Request, local_tag: str, local_seq: int = 0) -> Dialog:
        """The dialog the UAS makes when it answers `invite` with To tag `local_tag` (12.1.1)."""
        contacts = invite.headers.get_all("Contact")
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=invite.from_.tag or "",
            local_addr=_without_tag(invite.headers.get("To") or ""),
            remote_addr=_without_tag(invite.headers.get("From") or ""),
            local_seq=local_seq,
            remote_target=NameAddress.parse(contacts[0]).uri.serialize() if contacts else invite.uri,
            # 12.1.1: the UAS keeps the Record-Route of the request in its order.
            route_set=invite.headers.get_all("Record-Route"),
            state=DialogState.CONFIRMED,
        )

    def update(self, response: Response) -> None:
        """A later response of the dialog: 2xx confirms it and refreshes the target and routes."""
        if 200 <= response.status < 300 and self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
            self.route_set = list(reversed(response.headers.get_all("Record-Route")))
        contacts = response.headers.get_all("Contact")
        if contacts and 200 <= response.status < 300:
            self.remote_target = NameAddress.parse(contacts[0]).uri.serialize()

    def request(self, method: str, *, via: Via, branch: str, cseq: int | None = None) -> Request:
        """An in-dialog request (12.2.1.1). ACK and CANCEL reuse `cseq`; others take the next number."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        uri, routes = self._routing()
        req = Request(method=method, uri=uri)
        req.headers.add("Via", via.header(branch))
        for route in routes:
            req.headers.add("Route", route)
        req.headers.add("Max-Forwards", "70")
        req.headers.add("From", f"{self.local_addr};tag={self.local_tag}")
        req.headers.add("To", f"{self.remote_addr};tag={self.remote_tag}")
        req.headers.add("Call-ID", self.call_id)
        req.headers.add("CSeq", f"{cseq} {method}")
        req.headers.add("Content-Length", "0")
        return req

    def ack(self, invite_cseq: int, *, via: Via, branch: str) -> Request:
        """The ACK of a 2xx: a new transaction-less request of the dialog (13.2.2.4)."""
        return self.request("ACK", via=via, branch=branch, cseq=invite_cseq)

    def _routing(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = NameAddress.parse(self.route_set[0]).uri
        if isinstance(first, SipUri) and "lr" in first.params:
            return self.remote_target, list(self.route_set)  # loose routing
        # Strict routing: the first route becomes the Request-URI (without its parameters) and the
        # remote target goes last in the Route set.
        strict = parse_uri(first.serialize())
        if isinstance(strict, SipUri):
            strict = SipUri(host=strict.host, user=strict.user, port=strict.port, scheme=strict.scheme)
        return strict.serialize(), [*self.route_set[1:], f"<{self.remote_target}>"]


def next_hop(request: Request) -> tuple[str, int | None, str]:
    """Where a request goes (RFC 3261 8.1.2): the URI of its top Route if that is a loose router, else
    its Request-URI (which a strict router's request carries as its Request-URI, 12.2.1.1), as (host,
    port or None for the default, transport). Hosts come without IPv6 brackets."""
    routes = request.headers.get_all("Route")
    top = NameAddress.parse(routes[0]).uri if routes else None
    uri = top if isinstance(top, SipUri) and "lr" in top.params else parse_uri(request.uri)
    if not isinstance(uri, SipUri):
        raise RemoteProtocolError(f"no SIP hop in {uri.serialize()!r}")
    host = uri.host[1:-1] if uri.host.startswith("[") else uri.host
    return host, uri.port, uri.transport


def _without_tag(value: str) -> str:
    return _untagged(NameAddress.parse(value))


def _untagged(address: NameAddress) -> str:
    params = {k: v for k, v in address.params.items() if k != "tag"}
    return NameAddress(address.uri, address.display_name, params, address.angle).serialize()


@dataclass(slots=True)
class UacInvite:
    """The UAC side of one INVITE across its forks: early dialogs, the winning 2xx, the extra ones."""

    invite: Request
    via: Via
    new_branch: Callable[[], str]  # a fresh branch: "z9hG4bK" + random (injected: no randomness here)
    dialogs: dict[str, Dialog] = field(default_factory=dict)
    confirmed: Dialog | None = None

    def on_response(self, response: Response) -> list[Request]:
        """Track the dialog `response` belongs to; the requests to send now (ACKs, BYEs of extra 2xx)."""
        tag = response.to.tag
        if tag is None or response.status == 100 or response.status >= 300:
            return []
        if response.status < 200 and not response.headers.get_all("Contact"):
            return []  # a provisional response without Contact makes no early dialog (12.1.2)
        dialog = self.dialogs.get(tag)
        if dialog is None:
            dialog = Dialog.from_uac_response(self.invite, response)
            self.dialogs[tag] = dialog
        else:
            dialog.update(response)
        if response.status < 200:
            return []
        ack = dialog.ack(self.invite.cseq.seq, via=self.via, branch=self.new_branch())
        # 13.2.2.4: the ACK carries the credentials the INVITE carried.
        for name in ("Authorization", "Proxy-Authorization"):
            for value in self.invite.headers.get_all(name):
                ack.headers.add(name, value)
        if self.confirmed is None or self.confirmed is dialog:
            self.confirmed = dialog
            return [ack]
        # 13.2.2.4: a second fork answered; acknowledge it and hang it up at once.
        bye = dialog.request("BYE", via=self.via, branch=self.new_branch())
        dialog.state = DialogState.TERMINATED
        return [ack, bye]
