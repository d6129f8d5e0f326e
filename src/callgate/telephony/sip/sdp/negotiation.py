"""The offer/answer model (RFC 3264) for G.711 calls, over the descriptions of description.py.

Offer/answer for our calls: `build_offer` makes one sendrecv (or held) audio stream with PCMU and/or
PCMA and telephone-event; `answer_offer` picks the first G.711 codec in the offer's order, mirrors the
offerer's telephone-event payload type and ptime, answers the direction as RFC 3264 6.1 says, and
rejects every other m= line with port 0, keeping the count. An offer with no usable audio stream raises
`NotAcceptable` (SIP answers 488): an answer rejecting every stream would set up a call without media.
`negotiate_answer` reads the peer's answer to our offer. Both return `Negotiated`, where `direction` is
what the peer will do (its own a= line, narrowed to what our side allows) and `on_hold` says the peer
has held the call. A re-offer reuses the session id with `next_version` (RFC 3264 8); a hold is a
re-offer with a=sendonly (or a=inactive), or the old RFC 2543 way, c=IN IP4 0.0.0.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from callgate.telephony.sip.errors import LocalProtocolError, RemoteProtocolError
from callgate.telephony.sip.sdp.description import (
    DIRECTIONS,
    G711_PAYLOAD_TYPES,
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

# RFC 3264 6.1: what the answerer says to each direction of the offer.
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
DEFAULT_PTIME = 20
_HOLD_ADDRESSES = ("0.0.0.0", "::")


class NotAcceptable(RemoteProtocolError):
    """A well-formed offer or answer with no audio stream we can use: SIP says 488 Not Acceptable Here."""


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What an offer/answer exchange settled for the audio stream.

    `payload_type` is the number to send the codec with (the one the peer's SDP gave it);
    `remote_ssrc` is the SSRC the peer announced for its stream (RFC 5576), when it did;
    `remote_address`/`remote_port` are where to send RTP. `direction` is what the peer will do, as seen
    from its side: "sendonly" means it sends and will not listen. `ptime` is the packet time the peer
    asked for (20 ms when it said nothing).
    """

    codec: str
    payload_type: int
    clock_rate: int
    dtmf_payload_type: int | None
    remote_address: str
    remote_port: int
    ptime: int
    direction: str
    remote_ssrc: int | None = None  # the SSRC the peer's SDP announced (RFC 5576 a=ssrc), if any

    @property
    def on_hold(self) -> bool:
        """The peer has held the call: it will not listen (sendonly, inactive) or it pointed the stream
        at 0.0.0.0 (RFC 2543 hold, still sent by old gear; "::" taken the same way). A hold we placed
        ourselves with a sendonly offer shows as `local_direction` "sendonly" instead."""
        return self.direction in ("sendonly", "inactive") or self.remote_address in _HOLD_ADDRESSES

    @property
    def local_direction(self) -> str:
        """What our side may do: the mirror of the peer's direction."""
        return _ANSWER_DIRECTION[self.direction]


def next_version(sd: SessionDescription) -> int:
    """The o= version for the next session description after `sd` in the same session (RFC 3264 8)."""
    return sd.origin.version + 1


def _codec_names(codecs: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(codec.upper() for codec in codecs)
    if not names or any(name not in G711_PAYLOAD_TYPES for name in names) or len(set(names)) != len(names):
        raise LocalProtocolError(f"{what} must be distinct names among PCMU and PCMA, got {tuple(codecs)!r}")
    return names


def _check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise LocalProtocolError(f"RTP port {port} is not in 1-65535")


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise LocalProtocolError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def _origin(address: str, session_id: int, version: int) -> tuple[Origin, Connection]:
    if session_id < 0:
        raise LocalProtocolError(f"session id {session_id} is negative")
    connection = Connection.for_address(address)
    return Origin("callgate", str(session_id), version, address, connection.addrtype), connection


def _audio(
    port: int,
    protocol: str,
    codecs: Sequence[tuple[int, str]],
    dtmf_pt: int | None,
    ptime: int | None,
    direction: str,
    ssrc: int | None = None,
    cname: str = "callgate",
) -> MediaDescription:
    formats = [pt for pt, _ in codecs]
    attributes = [Attribute("rtpmap", f"{pt} {name}/8000") for pt, name in codecs]
    if dtmf_pt is not None:
        formats.append(dtmf_pt)
        attributes += [
            Attribute("rtpmap", f"{dtmf_pt} telephone-event/8000"),
            Attribute("fmtp", f"{dtmf_pt} 0-16"),
        ]
    if ptime is not None:
        attributes.append(Attribute("ptime", str(ptime)))
    attributes.append(Attribute(direction))
    if ssrc is not None:
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise LocalProtocolError(f"SSRC {ssrc} is not 32-bit")
        attributes.append(Attribute("ssrc", f"{ssrc} cname:{cname}"))  # RFC 5576 4.1
    return MediaDescription("audio", port, protocol, tuple(map(str, formats)), attributes=tuple(attributes))


def build_offer(
    address: str,
    port: int,
    session_id: int,
    version: int,
    *,
    codecs: Sequence[str] = ("PCMU", "PCMA"),
    dtmf_pt: int | None = 101,
    ptime: int | None = 20,
    direction: str = "sendrecv",
    ssrc: int | None = None,
    cname: str = "callgate",
) -> SessionDescription:
    """An offer of one audio stream on `address`:`port` (RFC 3264 5).

    The codecs go in the given order on their static payload types, then telephone-event on `dtmf_pt`
    (None leaves DTMF events out). For a re-offer, keep `session_id` and pass `next_version` of the
    previous one; to hold the call pass direction="sendonly" (or "inactive"). `ssrc` announces the
    stream's SSRC (RFC 5576 a=ssrc, with `cname`), for a peer that shares one port among calls.
    """
    names = _codec_names(codecs, "codecs")
    _check_port(port)
    _check_direction(direction)
    if dtmf_pt is not None and not 96 <= dtmf_pt <= 127:
        raise LocalProtocolError(f"telephone-event payload type {dtmf_pt} is not a dynamic one (96-127)")
    if ptime is not None and not 1 <= ptime <= 99999:
        raise LocalProtocolError(f"ptime {ptime} is not in 1-99999 ms")
    origin, connection = _origin(address, session_id, version)
    codecs_offered = [(G711_PAYLOAD_TYPES[n], n) for n in names]
    audio = _audio(port, "RTP/AVP", codecs_offered, dtmf_pt, ptime, direction, ssrc, cname)
    return SessionDescription(origin=origin, name="callgate", connection=connection, media=(audio,))


def _usable_audio(media: MediaDescription) -> bool:
    return media.media == "audio" and not media.rejected and media.protocol.upper() == "RTP/AVP"


def _first_codec(media: MediaDescription, names: Iterable[str]) -> tuple[int, str] | None:
    wanted = set(names)
    for pt in media.payload_types:
        encoding = media.encoding_of(pt)
        name = encoding.g711 if encoding is not None else None
        if name is not None and name in wanted:
            return pt, name
    return None


def _telephone_event(media: MediaDescription) -> int | None:
    for pt in media.payload_types:
        encoding = media.encoding_of(pt)
        if encoding is not None and encoding.is_telephone_event:
            return pt
    return None


def _announced_ssrc(media: MediaDescription) -> int | None:
    """The SSRC of the stream's first a=ssrc line (RFC 5576 4.1), or None. A malformed one is ignored:
    it only helps to tell calls apart, and the call works without it."""
    value = media.attribute("ssrc")
    if value is None:
        return None
    head = value.split(" ", 1)[0]
    if not (head.isascii() and head.isdigit()) or int(head) > 0xFFFFFFFF:
        return None
    return int(head)


def _rejected(media: MediaDescription) -> MediaDescription:
    return MediaDescription(media.media, 0, media.protocol, media.formats)


def answer_offer(
    offer: SessionDescription,
    address: str,
    port: int,
    session_id: int,
    version: int,
    *,
    supported: Sequence[str] = ("PCMU", "PCMA"),
    ssrc: int | None = None,
    cname: str = "callgate",
) -> tuple[SessionDescription, Negotiated]:
    """Our answer to an offer (RFC 3264 6), and what it settles.

    The first RTP/AVP audio stream holding a codec in `supported` is accepted with the first such codec
    in the offer's order, plus telephone-event on the offerer's payload type if offered, the offer's
    ptime (20 if none) and the mirrored direction. Every other m= line is answered with port 0. The
    answer's t= lines are the offer's (RFC 3264 6). Raises `NotAcceptable` when no stream is usable,
    and `RemoteProtocolError` when the chosen stream has no c= line. `ssrc` announces ours (RFC 5576).
    """
    names = _codec_names(supported, "supported")
    _check_port(port)
    chosen: tuple[int, int, str] | None = None
    for index, media in enumerate(offer.media):
        if _usable_audio(media):
            pick = _first_codec(media, names)
            if pick is not None:
                chosen = (index, *pick)
                break
    if chosen is None:
        raise NotAcceptable(f"offer has no RTP/AVP audio stream with {' or '.join(names)}")
    index, pt, name = chosen
    offered = offer.media[index]
    remote = offer.connection_of(offered)
    if remote is None:
        raise RemoteProtocolError(f"offer's audio stream (m= line {index + 1}) has no c= line")
    dtmf = _telephone_event(offered)
    ptime = offered.ptime or DEFAULT_PTIME
    their_direction = offer.direction_of(offered)
    answered = _ANSWER_DIRECTION[their_direction]
    audio = _audio(port, offered.protocol, [(pt, name)], dtmf, ptime, answered, ssrc, cname)
    origin, connection = _origin(address, session_id, version)
    answer = SessionDescription(
        origin=origin,
        name="callgate",
        connection=connection,
        timing=offer.timing or (Timing(),),
        media=tuple(audio if i == index else _rejected(m) for i, m in enumerate(offer.media)),
    )
    negotiated = Negotiated(
        codec=name,
        payload_type=pt,
        clock_rate=8000,
        dtmf_payload_type=dtmf,
        remote_address=remote.host,
        remote_port=offered.port,
        ptime=ptime,
        direction=their_direction,
        remote_ssrc=_announced_ssrc(offered),
    )
    return answer, negotiated


def _sends(direction: str) -> bool:
    return direction in ("sendrecv", "sendonly")


def _receives(direction: str) -> bool:
    return direction in ("sendrecv", "recvonly")


def _direction(sends: bool, receives: bool) -> str:
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def negotiate_answer(offer_we_sent: SessionDescription, answer: SessionDescription) -> Negotiated:
    """What the peer's answer to our offer settles (RFC 3264 6, 7).

    The codec is the first payload type of the answer that is a G.711 codec we offered; the answer's
    number for it is the one to send with. The peer's direction is its own attribute narrowed to what
    we offered (it cannot send if we said we will not listen). Raises `NotAcceptable` when the answer
    rejects our audio stream, `RemoteProtocolError` when it does not fit the offer.
    """
    audio = (i for i, m in enumerate(offer_we_sent.media) if m.media == "audio" and not m.rejected)
    index = next(audio, None)
    if index is None:
        raise LocalProtocolError("our offer has no audio stream")
    if len(answer.media) != len(offer_we_sent.media):
        raise RemoteProtocolError(
            f"answer has {len(answer.media)} m= lines, the offer had {len(offer_we_sent.media)}"
        )
    ours, theirs = offer_we_sent.media[index], answer.media[index]
    if theirs.media != "audio":
        raise RemoteProtocolError(f"answer's m= line {index + 1} is {theirs.media!r}, the offer's is 'audio'")
    if theirs.rejected:
        raise NotAcceptable("answer rejected the audio stream (port 0)")
    encodings = (ours.encoding_of(pt) for pt in ours.payload_types)
    offered = {enc.g711 for enc in encodings if enc is not None and enc.g711 is not None}
    pick = _first_codec(theirs, offered)
    if pick is None:
        raise RemoteProtocolError(
            f"answer chose no codec we offered: {theirs.m_line()!r} against {ours.m_line()!r}"
        )
    remote = answer.connection_of(theirs)
    if remote is None:
        raise RemoteProtocolError(f"answer's audio stream (m= line {index + 1}) has no c= line")
    dtmf = _telephone_event(theirs) if _telephone_event(ours) is not None else None
    our_direction, their_direction = offer_we_sent.direction_of(ours), answer.direction_of(theirs)
    direction = _direction(
        _sends(their_direction) and _receives(our_direction),
        _receives(their_direction) and _sends(our_direction),
    )
    return Negotiated(
        codec=pick[1],
        payload_type=pick[0],
        clock_rate=8000,
        dtmf_payload_type=dtmf,
        remote_address=remote.host,
        remote_port=theirs.port,
        ptime=theirs.ptime or DEFAULT_PTIME,
        direction=direction,
        remote_ssrc=_announced_ssrc(theirs),
    )
