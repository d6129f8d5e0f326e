"""The sandbox's user agent server: answers INVITEs by running the steps of the phone they call.

Each INVITE gets 100 Trying at once, then its `Phone`'s steps (`callgate.sandbox.plan`): 180 Ringing
and the ringing time, a 200 OK (sent again until the ACK comes), a rejection, the timed steps of the
call, a BYE. A phone that is still ringing when its steps end rings until the caller cancels (200 to
the CANCEL, 487 to the INVITE). A BYE from the caller is answered 200 and ends the call; OPTIONS is
answered 200. It listens on UDP and TCP on the same port. `time_scale` shrinks every wait (tests
run the plan at 1/100 speed). The phones are the built-in plan plus a user's phone book (`phones`),
which comes first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from callgate.sandbox.plan import (
    Answer,
    Echo,
    Hangup,
    Phone,
    Play,
    Press,
    Reject,
    Ring,
    Say,
    Step,
    Tone,
    duration,
    phone_for,
)
from callgate.telephony.aio.clock import MediaClock
from callgate.telephony.aio.endpoint import SipEndpoint, is_address
from callgate.telephony.aio.entropy import token_hex
from callgate.telephony.aio.fetch import AudioFetcher, FetchError
from callgate.telephony.aio.leg import new_branch
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.aio.tcp import TcpSipEndpoint, open_udp_and_tcp
from callgate.telephony.aio.tts import SpeechError, speaker
from callgate.telephony.media.audio import AudioError, Samples, frames, read_audio
from callgate.telephony.media.recorder import Recorder
from callgate.telephony.media.tones import tone
from callgate.telephony.sip.dialog import Dialog, Via, next_hop
from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.layer import Address, RequestReceived, ServerTransaction
from callgate.telephony.sip.message import Request, Response, response_for
from callgate.telephony.sip.sdp import SessionDescription, answer_offer
from callgate.telephony.sip.timers import SipTimers
from callgate.telephony.sip.uri import SipUri, TelUri

log = logging.getLogger(__name__)

_NO_CALL = (481, "Call/Transaction Does Not Exist")
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
SUPPORTED: frozenset[str] = frozenset()  # no extensions: a Require of any (100rel, timer, ...) gets 420


@dataclass
class _Call:
    invite: Request
    transaction: ServerTransaction
    source: Address
    endpoint: SipEndpoint
    to_tag: str = field(default_factory=lambda: token_hex(6))
    answered: bool = False
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    last: tuple[int, str] = (100, "Trying")
    dialog: Dialog | None = None
    task: asyncio.Task[None] | None = None
    media: RtpStream | None = None
    answer_sdp: bytes = b""
    sdp_session: int = field(default_factory=lambda: secrets.randbits(31))
    recorder: Recorder | None = None
    sdp_version: int = 1


class Sandbox:
    """Scripted phones behind a SIP UDP endpoint and, on the same port, a TCP one."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        *,
        tcp: TcpSipEndpoint | None = None,
        time_scale: float = 1.0,
        phones: Mapping[str, Phone] | None = None,
        recordings: Path | None = None,
        media_clock: MediaClock | None = None,
    ) -> None:
        self.recordings = recordings
        #: the clock of its phones' streams (None: telephony's default)
        self.media_clock = media_clock
        self._fetcher = AudioFetcher()
        self.endpoint = endpoint
        self.tcp = tcp
        self.time_scale = time_scale
        self.phones = dict(phones or {})
        self._calls: dict[str, _Call] = {}
        for ep in self.endpoints:
            ep.on_request = partial(self._on_request, ep)

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 5080,
        *,
        time_scale: float = 1.0,
        timers: SipTimers | None = None,
        phones: Mapping[str, Phone] | None = None,
        tcp: bool = True,
        recordings: Path | None = None,
        media_clock: MediaClock | None = None,
    ) -> Sandbox:
        udp, stream = await open_udp_and_tcp(host, port, timers, tcp=tcp)
        return cls(udp, tcp=stream, time_scale=time_scale, phones=phones, recordings=recordings,
                   media_clock=media_clock)  # fmt: skip

    @property
    def endpoints(self) -> list[SipEndpoint]:
        return [self.endpoint] if self.tcp is None else [self.endpoint, self.tcp]

    @property
    def address(self) -> Address:
        return self.endpoint.local_address

    def close(self) -> None:
        for call in list(self._calls.values()):
            if call.task is not None:
                call.task.cancel()
            if call.media is not None:
                call.media.close()
            if call.recorder is not None:
                call.recorder.close()
        for ep in self.endpoints:
            ep.close()

    def contact(self, endpoint: SipEndpoint, toward: str | None = None) -> str:
        host, port = self.address
        if toward is not None:
            host = advertised_host(host, toward)
        if ":" in host:
            host = f"[{host}]"
        transport = "" if endpoint.via_transport == "UDP" else f";transport={endpoint.via_transport.lower()}"
        return f"sip:sandbox@{host}:{port}{transport}"

    def _response(self, call: _Call, status: int, reason: str, request: Request | None = None) -> Response:
        contact = self.contact(call.endpoint, call.source[0]) if status < 300 and status != 100 else None
        tag = call.to_tag if status != 100 else None
        response = response_for(request or call.invite, status, reason, to_tag=tag, contact=contact)
        if 200 <= status < 300 and call.answer_sdp and (request is None or request is call.invite):
            response.headers.set("Content-Type", "application/sdp")
            response.body = call.answer_sdp
            response.with_content_length()
        return response

    def _respond(self, call: _Call, status: int, reason: str) -> None:
        call.last = (status, reason)
        call.endpoint.respond(call.transaction, self._response(call, status, reason))

    def _on_request(self, endpoint: SipEndpoint, event: RequestReceived) -> None:
        request, tx = event.request, event.transaction
        call = self._calls.get(request.call_id)
        if request.method == "ACK" or tx is None:
            if call is not None:
                call.acked.set()  # the ACK of our 2xx: stop retransmitting it
            return

        def answer(status: int, reason: str, *, tag: bool = True) -> None:
            to_tag = (call.to_tag if call is not None else token_hex(6)) if tag else None
            endpoint.respond(tx, response_for(request, status, reason, to_tag=to_tag))

        # RFC 3261 8.2.2.3 and 16.3: what a UAS refuses before looking at the method.
        unsupported = [
            option for option in request.headers.get_all("Require") if option.lower() not in SUPPORTED
        ]
        if unsupported and request.method not in ("CANCEL", "BYE"):
            response = response_for(request, 420, "Bad Extension", to_tag=token_hex(6))
            response.headers.set("Unsupported", ", ".join(unsupported))
            endpoint.respond(tx, response)
            return
        if request.headers.get("Max-Forwards") == "0" and request.method != "OPTIONS":
            answer(483, "Too Many Hops")
            return

        ours = (
            call is not None and request.to.tag == call.to_tag and request.from_.tag == call.invite.from_.tag
        )
        if request.method == "INVITE" and call is None:
            if request.to.tag is not None:
                answer(*_NO_CALL)  # a re-INVITE of a dialog we do not have (12.2.2)
                return
            call = _Call(request, tx, event.source, endpoint)
            self._calls[request.call_id] = call
            self._respond(call, 100, "Trying")
            call.task = asyncio.create_task(self._play(call))
        elif request.method == "INVITE":
            assert call is not None
            if request.to.tag is None and request.cseq.seq == call.invite.cseq.seq:
                # The INVITE again, after our final response ended its transaction: the same answer.
                endpoint.respond(tx, self._response(call, *call.last, request=request))
            elif ours and call.answered:
                # A re-INVITE (session refresh, hold, a new address): answered, with SDP if offered.
                endpoint.respond(tx, self._reanswer(call, request))
            else:
                answer(*_NO_CALL)
        elif request.method == "CANCEL":
            # 9.2: a CANCEL matches the INVITE's transaction: same Call-ID, CSeq number and branch.
            matches = (
                call is not None
                and request.cseq.seq == call.invite.cseq.seq
                and request.vias[0].branch == call.invite.vias[0].branch
            )
            if not matches:
                answer(*_NO_CALL)
                return
            assert call is not None
            answer(200, "OK")
            if not call.answered and call.last[0] < 200:
                self._end(call)
                self._respond(call, 487, "Request Terminated")
        elif request.method == "BYE":
            if not ours:
                answer(*_NO_CALL, tag=False)
                return
            assert call is not None
            answer(200, "OK", tag=False)
            self._end(call)
        elif request.method == "OPTIONS":
            response = response_for(request, 200, "OK", to_tag=token_hex(6))
            response.headers.set("Allow", ALLOW)
            response.headers.set("Accept", "application/sdp")
            response.headers.set("Supported", ", ".join(sorted(SUPPORTED)) or "")
            endpoint.respond(tx, response)
        elif ours and request.method in ("INFO", "UPDATE", "NOTIFY"):
            answer(200, "OK", tag=False)  # mid-call INFO (DTMF relay), UPDATE without SDP: fine
        elif request.method in ("REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "PRACK", "NOTIFY"):
            # Known methods a phone of the sandbox does not take (RFC 3261 21.4.6): 405 with Allow.
            response = response_for(request, 405, "Method Not Allowed", to_tag=token_hex(6))
            response.headers.set("Allow", ALLOW)
            endpoint.respond(tx, response)
        else:
            answer(501, "Not Implemented")

    async def _retransmit_2xx(self, call: _Call) -> None:
        """RFC 3261 13.3.1.4: the UAS core sends the 2xx again at T1, 2T1, ... up to T2 until the ACK
        comes, and gives up after 64*T1, whatever the transport (a proxy on the way may use UDP)."""
        timers = call.endpoint.layer.timers
        interval, waited = timers.t1, 0.0
        while waited < timers.timeout:
            try:
                await asyncio.wait_for(call.acked.wait(), timeout=interval)
                return
            except TimeoutError:
                waited += interval
                interval = min(2 * interval, timers.t2)
                call.endpoint.send_raw(self._response(call, 200, "OK").serialize(), call.source)

    def _end(self, call: _Call) -> None:
        self._calls.pop(call.invite.call_id, None)
        if call.media is not None:
            call.media.close()
        if call.recorder is not None:
            call.recorder.close()  # the WAV's header is made final
        if call.task is not None and call.task is not asyncio.current_task():
            call.task.cancel()

    async def _play(self, call: _Call) -> None:
        uri = call.invite.request_uri
        number = uri.user if isinstance(uri, SipUri) else uri.number if isinstance(uri, TelUri) else None
        phone = phone_for(number or "", self.phones)
        scale = self.time_scale
        ringing = False
        for step in phone.steps:
            if isinstance(step, Ring):
                if not ringing:
                    self._respond(call, 180, "Ringing")
                    ringing = True
                if math.isinf(step.seconds):
                    return  # until the caller cancels
                await asyncio.sleep(step.seconds * scale)
            elif isinstance(step, Reject):
                self._respond(call, step.status, step.reason)
                self._end(call)
                return
            elif isinstance(step, Answer):
                if not await self._open_media(call):
                    self._respond(call, 488, "Not Acceptable Here")
                    self._end(call)
                    return
                call.answered = True
                self._respond(call, 200, "OK")
                call.dialog = Dialog.from_uas_request(call.invite, call.to_tag)
                asyncio.create_task(self._retransmit_2xx(call))
            elif isinstance(step, Hangup):
                assert call.dialog is not None
                host, port = self.address
                host = advertised_host(host, call.source[0])
                bye = call.dialog.request(
                    "BYE", via=Via(host, port, call.endpoint.via_transport), branch=new_branch()
                )
                # Over TCP the BYE goes back on the connection the call came in on.
                hop = call.source if call.endpoint.layer.reliable else self._hop(bye, call.source)
                call.endpoint.send_request(bye, hop)
                self._end(call)
                return
            elif call.media is not None:
                await self._sound(call.media, step)
            else:
                # No SDP offer, so no audio: each sound step only takes its time on the call.
                await asyncio.sleep(duration(step) * scale)

    def _reanswer(self, call: _Call, request: Request) -> Response:
        response = self._response(call, 200, "OK", request=request)
        if not request.body or call.media is None:
            return response
        try:
            offer = SessionDescription.parse(request.body)
            host, port = call.media.local_address
            call.sdp_version += 1
            answer, negotiated = answer_offer(offer, host, port, call.sdp_session, call.sdp_version)
        except RemoteProtocolError as exc:
            log.info("sandbox refuses the re-offer of %s: %s", call.invite.call_id, exc.reason)
            return response_for(request, 488, "Not Acceptable Here", to_tag=call.to_tag)
        call.media.apply(negotiated)  # a hold: quiet until resumed
        response.headers.set("Content-Type", "application/sdp")
        response.body = answer.serialize()
        response.with_content_length()
        return response

    async def _open_media(self, call: _Call) -> bool:
        """Answer the INVITE's SDP offer with a stream of our own (no offer: a call without audio)."""
        if not call.invite.body:
            return True
        try:
            offer = SessionDescription.parse(call.invite.body)
            stream = await RtpStream.open(self.address[0], clock=self.media_clock)
            host, port = stream.local_address
            host = advertised_host(host, call.source[0])  # never 0.0.0.0 (that means hold) in SDP
            answer, negotiated = answer_offer(offer, host, port, call.sdp_session, call.sdp_version)
        except RemoteProtocolError as exc:
            log.info("sandbox refuses the offer of %s: %s", call.invite.call_id, exc.reason)
            return False
        stream.apply(negotiated)
        call.media, call.answer_sdp = stream, answer.serialize()
        if self.recordings is not None:
            name = "".join(c if c.isalnum() else "_" for c in call.invite.call_id)[:80]
            call.recorder = Recorder(self.recordings / f"{name}.wav", track="inbound")
            stream.listeners.append(call.recorder)
        return True

    async def _sound(self, media: RtpStream, step: Step) -> None:
        """Play one sound step on the call's stream, for as long as its audio lasts."""
        if isinstance(step, Say):
            try:
                await media.play(frames(await speaker().speak(step.text, step.voice, step.language)))
            except SpeechError as exc:
                log.warning("sandbox cannot speak: %s", exc)
                await asyncio.sleep(step.duration * self.time_scale)
        elif isinstance(step, Play):
            try:
                if step.source.startswith(("http://", "https://")):
                    samples = await self._fetcher.get(step.source)
                else:
                    samples = read_audio(Path(step.source).read_bytes())
            except (OSError, AudioError, FetchError) as exc:
                log.warning("sandbox cannot play %s: %s", step.source, exc)
                await asyncio.sleep(step.seconds * self.time_scale)
                return
            await media.play(frames(samples))
        elif isinstance(step, Tone):
            await media.play(frames(tone((float(step.hertz),), step.seconds)))
        elif isinstance(step, Press):
            await media.press(step.digits)
        elif isinstance(step, Echo):

            def echo(inbound: Samples, outbound: Samples) -> None:
                media.play([inbound])

            media.listeners.append(echo)
            media.digit_listeners.append(media.press)
            try:
                await asyncio.sleep(step.seconds * self.time_scale)
            finally:
                media.listeners.remove(echo)
                media.digit_listeners.remove(media.press)
        else:
            await asyncio.sleep(duration(step) * self.time_scale)

    @staticmethod
    def _hop(request: Request, source: Address) -> Address:
        """A request of ours inside the dialog goes to its next hop (RFC 3261 12.2.1.1), when that is an
        address; a name (which would need DNS) or an odd URI falls back to where the INVITE came from."""
        try:
            host, port, _ = next_hop(request)
        except RemoteProtocolError:
            return source
        return (host, port or 5060) if is_address(host) else source


def advertised_host(bound: str, toward: str) -> str:
    """The address to put in Contact, Via and SDP: the bound one, or, for a wildcard bind (0.0.0.0,
    ::), the local address the system routes `toward` the peer from (a connected UDP socket's name;
    no packet is sent)."""
    if bound not in ("0.0.0.0", "::", ""):
        return bound
    family = socket.AF_INET6 if ":" in toward else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((toward, 9))
            return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1" if family == socket.AF_INET else "::1"
