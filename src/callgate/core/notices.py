"""What went wrong on a call, in no vendor's terms: the engine raises a `Notice`, and the call's
dialect maps it to its own code (Twilio's debugger codes: 11200, 12100, 13520, ...; Bandwidth's
causes later) when it is stored and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class NoticeKind(Enum):
    #: a document request failed (`cause`: the webhook client's code for why)
    FETCH_FAILED = "fetch-failed"
    #: a document came back with a content type no document has
    INVALID_CONTENT_TYPE = "invalid-content-type"
    #: the dialect's parser refused the document or warned about it (`cause`: the dialect's own code)
    DOCUMENT = "document"
    #: too many documents fetched in a row without media progress (a redirect loop)
    DOCUMENT_LIMIT_REACHED = "document-limit-reached"
    #: the number or address cannot be called
    UNROUTABLE = "unroutable"
    #: Callgate itself failed running the call
    INTERNAL_FAILURE = "internal-failure"
    #: text to speak beyond the length spoken
    SAY_TOO_LONG = "say-too-long"
    #: text that could not be spoken
    SAY_FAILED = "say-failed"
    #: an audio file could not be fetched
    AUDIO_FETCH_FAILED = "audio-fetch-failed"
    #: a fetched file is not audio Callgate can play
    BAD_AUDIO = "bad-audio"
    #: a verb asked for something this call cannot do
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Notice:
    """One problem on a call, for the debugger (Notifications): what kind, and what happened."""

    kind: NoticeKind
    detail: str
    level: str = "error"  # "warning" or "error"
    #: the request it is about
    url: str | None = None
    method: str | None = None
    #: a code the layer below already gave (the webhook client's, the dialect parser's)
    cause: int | None = None


__all__ = ["Notice", "NoticeKind"]
