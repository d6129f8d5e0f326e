"""What a verb may touch, and what it answers.

A verb is a module with `async def run(ctx: CallContext, verb) -> Step`. `CallContext` is all it sees
of the call: the call's media (play, press, wait, echo, listen), speech and audio files, the current
document (relative URLs resolve against it), notify (the debugger), recordings, the call's child
calls (<Dial>) and the clock. The session (`engine/session.py`) is the real context; a verb's unit
test hands it a fake. A verb imports this module and pure code only, never the session, the runner
or the telephony shell: the failures it handles are named here.

What comes next: `None` (the next verb), `Goto` (fetch and run another document) or `Stop` (hang up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from callgate.core.call import Call, CallOptions
from callgate.core.notices import Notice
from callgate.core.verbs import StartRecording
from callgate.engine.faces import Params, RecordingRef
from callgate.telephony.aio.fetch import FetchError
from callgate.telephony.aio.tts import SpeechError, pieces
from callgate.telephony.media.g711 import Samples

if TYPE_CHECKING:
    from callgate.engine.recordings import RecordingHandle as RecordingHandle
    from callgate.store.base import Recording


@dataclass(frozen=True, slots=True)
class Goto:
    """Fetch `url` with `method` (and these parameters besides the call's) and run what it returns."""

    url: str
    method: str = "POST"
    params: tuple[tuple[str, str], ...] = ()
    kind: str = "action"


@dataclass(frozen=True, slots=True)
class Stop:
    """End the call."""


Step = Goto | Stop | None
#: a listener of the call's audio: (what the far end sent, what the call sent), 20 ms at a time
AudioListener = Callable[[Samples, Samples], None]


class ActionParams(Protocol):
    """The form parameters of the requests verbs make (the call's face renders them)."""

    def gather_params(self, call: Call, *, digits: str, finished_on_key: str | None) -> Params: ...
    def record_action_params(self, call: Call, *, recording: RecordingRef, digits: str | None) -> Params: ...
    def dial_action_params(
        self,
        call: Call,
        *,
        dial_call_status: str,
        dial_call_sid: UUID | None,
        dial_call_duration: int | None,
        recording: RecordingRef | None = None,
    ) -> Params: ...


@dataclass(frozen=True, slots=True)
class Party:
    """One party a <Dial> calls: a child call of its own."""

    to: str
    from_: str
    options: CallOptions


class ChildCall(Protocol):
    """A <Dial> party that answered."""

    @property
    def call(self) -> Call: ...
    @property
    def hung_up(self) -> bool:
        """The called party hung up."""
        ...

    async def press(self, digits: str) -> None: ...
    async def whisper(self) -> None:
        """Run its own document (`<Number url>`) before it is connected; a <Hangup> there ends it."""
        ...

    async def bridge(self, *, time_limit_s: int, hangup_on_star: bool) -> str:
        """Connect it to the caller until one side ends it; who or what ended it (callee, caller, api,
        star, time-limit)."""
        ...

    async def end(self, by: str) -> None: ...


class DialAttempt(Protocol):
    """The child calls of one <Dial>, placed at once."""

    @property
    def calls(self) -> list[Call]:
        """Each party's call as it is now, in the order given."""
        ...

    async def first_to_answer(self, timeout_s: int) -> ChildCall | None:
        """Ring them all; the first to answer (the others are canceled), None if nobody did."""
        ...


class ChildCalls(Protocol):
    """The call's child calls."""

    def place(self, parties: Sequence[Party]) -> AbstractAsyncContextManager[DialAttempt]:
        """Create the parties' calls; leaving the block, each that ended is let go."""
        ...


class CallContext(Protocol):
    """What a verb may use of the call it runs on."""

    # the call
    @property
    def call(self) -> Call: ...
    @property
    def face(self) -> ActionParams: ...

    # the call's media
    @property
    def hung_up(self) -> asyncio.Event:
        """Set when the far end hangs up."""
        ...

    @property
    def digit_listeners(self) -> list[Callable[[str], object]]: ...
    @property
    def audio_listeners(self) -> list[AudioListener]: ...
    async def play(self, samples: Samples, loops: int = 1) -> None: ...
    def stop_playing(self) -> None: ...
    async def press(self, digits: str) -> None: ...
    async def wait(self, seconds: float) -> None: ...
    async def echo(self, timeout_s: float | None) -> None: ...
    async def speak(self, text: str, voice: str | None, language: str | None) -> Samples: ...
    async def audio(self, url: str) -> Samples: ...

    # the document
    @property
    def document_url(self) -> str | None: ...
    def absolute(self, url: str) -> str: ...

    # the debugger
    async def notify(self, notice: Notice) -> None:
        """Report `notice` in the debugger; the call's dialect gives it its code."""
        ...

    # recordings
    async def begin_recording(
        self, *, source: str, channels: str, track: str, trim: bool | str
    ) -> RecordingHandle:
        """Record the call's audio from now on."""
        ...

    async def finish_recording(self, handle: RecordingHandle) -> Recording: ...
    async def recording_callback(
        self, url: str | None, method: str, events: Sequence[str], recording: RecordingRef
    ) -> None: ...
    async def start_recording(self, verb: StartRecording) -> None: ...
    async def stop_recording(self, name: str | None) -> None: ...

    # the call's child calls
    @property
    def children(self) -> ChildCalls: ...

    # the clock
    def monotonic(self) -> float:
        """Seconds on the clock the call's waits are timed by."""
        ...


__all__ = [
    "ActionParams",
    "AudioListener",
    "CallContext",
    "ChildCall",
    "ChildCalls",
    "DialAttempt",
    "FetchError",
    "Goto",
    "Party",
    "RecordingRef",
    "Samples",
    "SpeechError",
    "Step",
    "Stop",
    "pieces",
]
