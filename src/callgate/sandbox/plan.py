"""The sandbox's phones (docs/SANDBOX.md): the built-in number plan `+1NPA55501xx` and the phones users
script in a TOML file, both as a `Phone`: a name and the steps it runs when an INVITE reaches it.

Pure data and validation: the user agent in `callgate.sandbox.uas` runs the steps. A step that makes
sound (say, play, tone, press) takes its `seconds`; until the media layer plays the audio, that is the
only part of it the far end notices.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the reason phrases of the statuses a phone is likely to reject with (RFC 3261 21, RFC 8197)
REASONS = {
    400: "Bad Request", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 410: "Gone",
    480: "Temporarily Unavailable", 484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 500: "Server Internal Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Server Time-out", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable", 607: "Unwanted",
}  # fmt: skip

#: about how long espeak-ng takes to say a word at its default rate (175 words a minute)
SECONDS_PER_WORD = 60 / 175


@dataclass(frozen=True, slots=True)
class Ring:
    """Send 180 Ringing (once) and keep ringing this long; `math.inf` rings until the caller gives up."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Answer:
    """200 OK: the call is up."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A final failure status instead of answering (486 busy, 603 decline, 404, 503, ...)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Say:
    """Speak `text` (espeak-ng)."""

    text: str
    voice: str | None = None
    language: str | None = None
    seconds: float | None = None  # how long it lasts; None: estimated from the words

    @property
    def duration(self) -> float:
        if self.seconds is not None:
            return self.seconds
        return max(1.0, len(self.text.split()) * SECONDS_PER_WORD)


@dataclass(frozen=True, slots=True)
class Play:
    """Play an audio file (a path, or an http(s) URL)."""

    source: str
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Tone:
    """A tone: the answering machine's 1 kHz beep, the fax machine's CNG (1100 Hz)."""

    hertz: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Press:
    """Press keys (RFC 4733): 0-9 * # A-D, `w` a half-second pause, `W` a one-second pause."""

    digits: str

    @property
    def duration(self) -> float:
        keys = sum(1 for d in self.digits if d not in "wW")
        return 0.5 * self.digits.count("w") + 1.0 * self.digits.count("W") + 0.2 * keys


@dataclass(frozen=True, slots=True)
class Wait:
    """Stay on the line, silent, this long."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Echo:
    """Send back the audio and DTMF received, for `seconds`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Hangup:
    """BYE."""


Step = Ring | Answer | Reject | Say | Play | Tone | Press | Wait | Echo | Hangup


def duration(step: Step) -> float:
    """How long a step lasts once the call is up (ringing and final responses take no call time)."""
    if isinstance(step, Say | Press):
        return step.duration
    if isinstance(step, Play | Tone | Wait | Echo):
        return step.seconds
    return 0.0


@dataclass(frozen=True, slots=True)
class Phone:
    """What one sandbox phone does with an INVITE: its steps, in order. A phone whose steps end while
    it is still ringing rings until the caller gives up; one whose steps end with the call up stays
    on the line, silent, until the caller hangs up."""

    name: str
    steps: tuple[Step, ...]

    @property
    def reject(self) -> tuple[int, str] | None:
        for step in self.steps:
            if isinstance(step, Reject):
                return step.status, step.reason
        return None

    @property
    def ring_forever(self) -> bool:
        return not any(isinstance(step, Answer | Reject) for step in self.steps)

    @property
    def ring_s(self) -> float:
        return sum(step.seconds for step in self.steps if isinstance(step, Ring))

    @property
    def hangup_after_s(self) -> float | None:
        """Seconds from the answer to the phone's own BYE (None: it waits for the caller)."""
        if not self.steps or not isinstance(self.steps[-1], Hangup):
            return None
        answered = next(i for i, step in enumerate(self.steps) if isinstance(step, Answer))
        return sum(duration(step) for step in self.steps[answered + 1 :])


HELLO = Say("Hello?", seconds=1.0)
GREETING = Say(
    "Hi, you have reached the Callgate sandbox. Nobody can take your call right now. "
    "Please leave a message after the tone.",
    seconds=8.0,
)
STAY = 120.0  # a person or a machine left on the line hangs up after two minutes


def _person(name: str, *middle: Step) -> Phone:
    return Phone(name, (Ring(1.0), Answer(), HELLO, *middle, Wait(STAY - HELLO.duration), Hangup()))


PERSON = _person("person")

PLAN: dict[str, Phone] = {
    "0100": PERSON,
    "0101": Phone("person pressing 1234#", (Ring(1.0), Answer(), HELLO, Wait(2.0), Press("1234#"),
                                             Wait(STAY - 4.0), Hangup())),
    "0110": Phone("answering machine with beep", (Ring(4.0), Answer(), GREETING, Tone(1000, 1.0),
                                                   Wait(STAY - 9.0), Hangup())),
    "0111": Phone("answering machine without beep", (Ring(4.0), Answer(), GREETING, Wait(STAY - 8.0),
                                                      Hangup())),
    "0112": Phone("greeting, then the machine hangs up", (Ring(4.0), Answer(), GREETING, Hangup())),
    "0120": Phone("busy", (Reject(486, REASONS[486]),)),
    "0130": Phone("rings and never answers", (Ring(math.inf),)),
    "0140": Phone("declines", (Ring(1.0), Reject(603, REASONS[603]))),
    "0150": Phone("does not exist", (Reject(404, REASONS[404]),)),
    "0151": Phone("network failure", (Reject(503, REASONS[503]),)),
    "0160": Phone("answers and hangs up after 5 s", (Ring(1.0), Answer(), Wait(5.0), Hangup())),
    # CNG: 0.5 s of 1100 Hz every 3.5 s (ITU-T T.30)
    "0170": Phone("fax machine", (Ring(1.0), Answer(),
                                   *(step for _ in range(34) for step in (Tone(1100, 0.5), Wait(3.0))),
                                   Hangup())),
    "0180": Phone("echo", (Answer(), Echo(STAY), Hangup())),
    "0190": Phone("silent", (Ring(1.0), Answer(), Wait(STAY), Hangup())),
}  # fmt: skip

_SANDBOX_NUMBER = re.compile(r"\+1[2-9]\d{2}555(01\d\d)")
_E164 = re.compile(r"\+[1-9]\d{1,14}")
_DIGITS = re.compile(r"[0-9*#A-DwW]{1,64}")


def phone_for(number: str, custom: Mapping[str, Phone] | None = None) -> Phone:
    """The phone at `number` (E.164, or a SIP user part holding one): a user's scripted phone first,
    then the plan. Numbers outside the plan, and `+1NPA55501xx` rows it does not list, are people."""
    if custom and number in custom:
        return custom[number]
    match = _SANDBOX_NUMBER.fullmatch(number)
    if match is None:
        return PERSON
    return PLAN.get(match.group(1)[-4:], PERSON)


class PhoneBookError(ValueError):
    """A scripted phone that cannot run; the message says where and why."""


def _seconds(value: Any, where: str, *, forever: bool = False) -> float:
    if forever and value == "forever":
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 86400:
        allowed = 'a number of seconds (0 to 86400) or "forever"' if forever else "0 to 86400 seconds"
        raise PhoneBookError(f"{where}: expected {allowed}, got {value!r}")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PhoneBookError(f"{where}: expected non-empty text, got {value!r}")
    return value


_OPTIONS = {
    "ring": set(),
    "answer": set(),
    "hangup": set(),
    "reject": {"reason"},
    "say": {"voice", "language", "seconds"},
    "play": {"seconds"},
    "press": set(),
    "wait": set(),
}


def _step(raw: Any, where: str) -> Step:
    if isinstance(raw, str):
        raw = {raw: True}
    if not isinstance(raw, Mapping):
        raise PhoneBookError(f'{where}: a step is a table like {{ ring = 2 }} or "answer", got {raw!r}')
    actions = [key for key in raw if key in _OPTIONS]
    if len(actions) != 1:
        raise PhoneBookError(f"{where}: a step needs exactly one of {', '.join(_OPTIONS)}; got {sorted(raw)}")
    action = actions[0]
    unknown = set(raw) - {action} - _OPTIONS[action]
    if unknown:
        raise PhoneBookError(f"{where}: {action} does not take {', '.join(sorted(unknown))}")
    value = raw[action]
    if action == "ring":
        return Ring(_seconds(value, f"{where}.ring", forever=True))
    if action in ("answer", "hangup"):
        if value is not True:
            raise PhoneBookError(f"{where}: write {action!r} or {{ {action} = true }}")
        return Answer() if action == "answer" else Hangup()
    if action == "reject":
        if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 699:
            raise PhoneBookError(f"{where}.reject: expected a SIP status from 400 to 699, got {value!r}")
        reason = raw.get("reason", REASONS.get(value, "Rejected"))
        return Reject(value, _text(reason, f"{where}.reason"))
    if action == "say":
        for option in ("voice", "language"):
            if option in raw:
                _text(raw[option], f"{where}.{option}")
        seconds = _seconds(raw["seconds"], f"{where}.seconds") if "seconds" in raw else None
        return Say(_text(value, f"{where}.say"), raw.get("voice"), raw.get("language"), seconds)
    if action == "play":
        seconds = _seconds(raw["seconds"], f"{where}.seconds") if "seconds" in raw else 0.0
        return Play(_text(value, f"{where}.play"), seconds)
    if action == "press":
        if not isinstance(value, str) or not _DIGITS.fullmatch(value):
            raise PhoneBookError(f"{where}.press: expected keys from 0-9 * # A-D w W, got {value!r}")
        return Press(value)
    return Wait(_seconds(value, f"{where}.wait"))


def _script(steps: tuple[Step, ...], where: str) -> None:
    """The order rules: ring and reject before the answer, sound after it, nothing after the end."""
    answered = ended = False
    for i, step in enumerate(steps):
        at = f"{where}.steps[{i}]"
        if ended:
            raise PhoneBookError(f"{at}: nothing can follow a reject or a hangup")
        if isinstance(step, Ring | Reject | Answer) and answered:
            raise PhoneBookError(f"{at}: the call is already answered")
        if isinstance(step, Say | Play | Press | Wait | Hangup) and not answered:
            raise PhoneBookError(f"{at}: answer the call first")
        if isinstance(step, Ring) and math.isinf(step.seconds) and i != len(steps) - 1:
            raise PhoneBookError(f'{at}: ring = "forever" must be the last step')
        answered = answered or isinstance(step, Answer)
        ended = isinstance(step, Reject | Hangup)


def parse_phone_book(data: Mapping[str, Any]) -> dict[str, Phone]:
    """The `[[phones]]` of a phone book TOML document, by number. Raises `PhoneBookError`."""
    unknown = set(data) - {"phones"}
    if unknown:
        raise PhoneBookError(
            f"unknown top-level keys {sorted(unknown)}: a phone book holds [[phones]] tables"
        )
    phones = data.get("phones", [])
    if not isinstance(phones, list):
        raise PhoneBookError("phones: write each phone as a [[phones]] table")
    book: dict[str, Phone] = {}
    for n, raw in enumerate(phones):
        where = f"phones[{n}]"
        if not isinstance(raw, Mapping):
            raise PhoneBookError(f"{where}: expected a table")
        extra = set(raw) - {"number", "name", "steps"}
        if extra:
            raise PhoneBookError(f"{where}: unknown keys {sorted(extra)} (a phone has number, name, steps)")
        number = raw.get("number")
        if not isinstance(number, str) or not _E164.fullmatch(number):
            raise PhoneBookError(
                f"{where}.number: expected an E.164 number like +14155550123, got {number!r}"
            )
        if number in book:
            raise PhoneBookError(f"{where}.number: {number} is already in the phone book")
        raw_steps = raw.get("steps")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise PhoneBookError(f"{where}.steps: expected a non-empty list of steps")
        steps = tuple(_step(step, f"{where}.steps[{i}]") for i, step in enumerate(raw_steps))
        _script(steps, where)
        name = raw.get("name", number)
        book[number] = Phone(_text(name, f"{where}.name"), steps)
    return book


def load_phone_book(path: str) -> dict[str, Phone]:
    """Read a phone book file; a `PhoneBookError` names the file and the problem."""
    import tomllib

    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise PhoneBookError(f"{path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PhoneBookError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_phone_book(data)
    except PhoneBookError as exc:
        raise PhoneBookError(f"{path}: {exc}") from None
