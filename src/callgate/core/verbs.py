"""The neutral call-control verbs: what a TwiML, LaML or BXML document asks a live call to do.

Each dialect parses its markup into these (`callgate.dialects.*`), and the engine runs them, one
verb one module (`callgate.engine.verbs`). Durations carry their unit in the name. Attribute problems
that the vendor tolerates (it warns and uses the default) come back as `Notice`s beside the verbs; a
document the vendor refuses raises `DocumentError`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Notice:
    """A problem the vendor reports in its debugger (Notifications) without stopping the call."""

    code: int
    message: str
    level: str = "warning"  # "warning" or "error"


class DocumentError(Exception):
    """A document the vendor refuses: the call reports `code` and ends as the vendor ends it."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    voice: str | None = None
    language: str | None = None
    #: 0 means "until the call ends or the verb is interrupted" (Twilio caps it)
    loop: int = 1


def cut_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at the last space before the limit when there is one
    in its last tenth (a word is not cut in two), else at the limit."""
    if len(text) <= limit:
        return text
    space = text.rfind(" ", limit - limit // 10, limit + 1)
    return text[: space if space > 0 else limit].rstrip()


@dataclass(frozen=True, slots=True)
class Play:
    url: str | None = None
    loop: int = 1
    #: DTMF to send instead of audio (`digits` attribute): 0-9, *, #, w (0.5 s pause)
    digits: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    length_s: float = 1.0


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    input: tuple[str, ...] = ("dtmf",)
    action: str | None = None  # None: the current document's URL
    method: str = "POST"
    timeout_s: float = 5.0
    finish_on_key: str = "#"  # "" turns it off
    num_digits: int | None = None
    action_on_empty_result: bool = False
    #: "auto" or seconds: how long to wait for more speech (kept for the document; dtmf only for now)
    speech_timeout: str | None = None
    language: str | None = None
    hints: str | None = None
    partial_result_callback: str | None = None
    partial_result_callback_method: str = "POST"
    children: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True)
class Record:
    action: str | None = None
    method: str = "POST"
    timeout_s: int = 5  # seconds of silence that end the recording; 0: never
    finish_on_key: str = "1234567890*#"
    max_length_s: int = 3600
    play_beep: bool = True
    trim: str = "trim-silence"  # Twilio's <Record> default ("trim-silence" or "do-not-trim")
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    transcribe: bool = False
    transcribe_callback: str | None = None


@dataclass(frozen=True, slots=True)
class DialTarget:
    """One party a <Dial> rings: a number (`kind` "number") or a SIP URI (`kind` "sip")."""

    kind: str
    address: str
    send_digits: str | None = None
    url: str | None = None  # a document run on the dialled party when it answers, before the bridge
    method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, slots=True)
class Dial:
    targets: tuple[DialTarget, ...]
    action: str | None = None
    method: str = "POST"
    caller_id: str | None = None
    timeout_s: int = 30
    time_limit_s: int = 14400
    #: do-not-record, record-from-answer, record-from-ringing, and the -dual variants
    record: str = "do-not-record"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    hangup_on_star: bool = False
    answer_on_bridge: bool = False
    ring_tone: str | None = None


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str = "rejected"  # "rejected" or "busy"


@dataclass(frozen=True, slots=True)
class Echo:
    """Send the caller's audio back (SignalWire's and the sandbox's test verb)."""

    timeout_s: int | None = None


@dataclass(frozen=True, slots=True)
class StartRecording:
    """<Start><Recording>: record the call from here on, while the document goes on (Twilio's
    defaults: both tracks, dual channels, trimmed). `name` lets <Stop><Recording> end it."""

    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    trim: str = "trim-silence"
    track: str = "both"
    channels: str = "dual"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class StopRecording:
    """<Stop><Recording>: end the recording <Start><Recording> began under `name` (None: all of them)."""

    name: str | None = None


Verb = (
    Say
    | Play
    | Pause
    | Gather
    | Record
    | Dial
    | Hangup
    | Redirect
    | Reject
    | Echo
    | StartRecording
    | StopRecording
)


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed document: the verbs in order, and the warnings the vendor would have reported."""

    verbs: tuple[Verb, ...]
    notices: tuple[Notice, ...] = ()
