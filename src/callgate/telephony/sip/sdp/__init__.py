"""SDP for G.711 calls, sans-IO, by concern: session descriptions parsed and serialised (RFC 4566,
description.py) and the offer/answer model over them (RFC 3264, negotiation.py). Every name is
importable from here, as callers always have."""

from callgate.telephony.sip.sdp.description import (
    DIRECTIONS,
    G711_PAYLOAD_TYPES,
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    Timing,
)
from callgate.telephony.sip.sdp.negotiation import (
    DEFAULT_PTIME,
    Negotiated,
    NotAcceptable,
    answer_offer,
    build_offer,
    negotiate_answer,
    next_version,
)

__all__ = [
    "DEFAULT_PTIME",
    "DIRECTIONS",
    "G711_PAYLOAD_TYPES",
    "Attribute",
    "Connection",
    "MediaDescription",
    "Negotiated",
    "NotAcceptable",
    "Origin",
    "RtpMap",
    "SessionDescription",
    "Timing",
    "answer_offer",
    "build_offer",
    "negotiate_answer",
    "next_version",
]
