"""The engine's notices as Twilio's debugger codes (SignalWire reports the same codes)."""

from __future__ import annotations

from types import MappingProxyType

from callgate.core.notices import Notice, NoticeKind
from callgate.engine.faces import Notification

#: a document or audio request that failed, when the webhook client gave no finer code
RETRIEVAL_FAILURE = 11200

#: the code of each kind of notice
CODES = MappingProxyType({
    NoticeKind.FETCH_FAILED: RETRIEVAL_FAILURE,
    NoticeKind.INVALID_CONTENT_TYPE: 12300,
    NoticeKind.DOCUMENT: 12100,  # "Document parse failure", when the parser gave no code of its own
    # a reply session that requested too many documents (a Redirect or action loop); Programmable
    # Voice publishes none of its own for this
    NoticeKind.DOCUMENT_LIMIT_REACHED: 14106,
    NoticeKind.UNROUTABLE: 13224,
    NoticeKind.INTERNAL_FAILURE: 12400,
    NoticeKind.SAY_FAILED: 13520,
    NoticeKind.SAY_TOO_LONG: 13521,
    NoticeKind.AUDIO_FETCH_FAILED: RETRIEVAL_FAILURE,
    NoticeKind.BAD_AUDIO: 13227,
    NoticeKind.UNSUPPORTED: 13750,  # "Twiml verb not supported by this API version"
})  # fmt: skip

#: the kinds whose code is the one the layer below gave (the webhook client's, the parser's)
_CAUSED = frozenset({NoticeKind.FETCH_FAILED, NoticeKind.DOCUMENT})


def code(notice: Notice) -> int:
    """Twilio's debugger code for `notice`."""
    if notice.kind in _CAUSED and notice.cause is not None:
        return notice.cause
    return CODES[notice.kind]


def notification(notice: Notice) -> Notification:
    return Notification(code(notice), notice.detail, notice.level)


__all__ = ["CODES", "code", "notification"]
