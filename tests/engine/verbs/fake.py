"""A fake `CallContext` (engine/verbs/base.py): what a verb does to the call, written down, with no
SIP, no sockets and no store. Its clock (`monotonic`) moves only when told to; keys reach the verb
through the digit listeners it registered, once a test sees it listening (`listening`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from uuid import UUID, uuid4

import numpy as np

from callgate.core.call import Call, CallOptions
from callgate.core.notices import Notice, NoticeKind
from callgate.core.status import CallStatus
from callgate.core.verbs import StartRecording
from callgate.engine.faces import RecordingRef
from callgate.engine.verbs.base import AudioListener, Party, Samples, SpeechError
from callgate.store.base import Recording

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_call(**changes: Any) -> Call:
    fields: dict[str, Any] = {
        "id": uuid4(),
        "account_id": uuid4(),
        "to": "+14155550100",
        "from_": "+14155550199",
        "status": CallStatus.IN_PROGRESS,
        "created_at": T0,
        "updated_at": T0,
        "options": CallOptions(url="https://app.test/voice"),
    }
    return Call(**(fields | changes))


class Face:
    """The action parameters, as tuples that name what they were given."""

    def gather_params(self, call: Call, *, digits: str, finished_on_key: str | None) -> list[tuple[str, str]]:
        return [("Digits", digits), ("FinishedOnKey", finished_on_key or "")]

    def record_action_params(
        self, call: Call, *, recording: RecordingRef, digits: str | None
    ) -> list[tuple[str, str]]:
        return [("RecordingSid", str(recording.id)), ("Digits", digits or "")]

    def dial_action_params(
        self,
        call: Call,
        *,
        dial_call_status: str,
        dial_call_sid: UUID | None,
        dial_call_duration: int | None,
        recording: RecordingRef | None = None,
    ) -> list[tuple[str, str]]:
        params = [("DialCallStatus", dial_call_status)]
        if dial_call_sid is not None:
            params.append(("DialCallSid", str(dial_call_sid)))
        if dial_call_duration is not None:
            params.append(("DialCallDuration", str(dial_call_duration)))
        if recording is not None:
            params.append(("RecordingSid", str(recording.id)))
        return params


@dataclass
class Handle:
    source: str
    channels: str
    track: str
    trim: bool | str


@dataclass
class FakeContext:
    call: Call = field(default_factory=make_call)
    face: Face = field(default_factory=Face)
    document_url: str | None = "https://app.test/voice"
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    digit_listeners: list[Callable[[str], object]] = field(default_factory=list)
    audio_listeners: list[AudioListener] = field(default_factory=list)
    #: what the verb did, in order: ("play", samples, loops), ("press", digits), ("wait", s), ...
    done: list[tuple[Any, ...]] = field(default_factory=list)
    notes: list[tuple[NoticeKind, str, str]] = field(default_factory=list)  # (kind, detail, level)
    #: text -> samples of speech; a text missing here fails as speech does (SpeechError)
    speech: dict[str, Samples] = field(default_factory=dict)
    #: url -> audio, or the exception fetching it raises
    files: dict[str, Samples | Exception] = field(default_factory=dict)
    #: play waits for this, if set (a prompt that goes on until a key stops it)
    playing: asyncio.Event | None = None
    #: the status a finished recording has (completed, absent)
    recording_status: str = "completed"
    callbacks: list[tuple[Any, ...]] = field(default_factory=list)
    children_: Any = None
    now: float = 100.0
    #: seconds the clock moves each time it is read
    tick: float = 0.0
    #: the times the verb stored as the last voice heard (via `monotonic`, read by the verb)
    looked_at: list[float] = field(default_factory=list)
    listening: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        outer = self

        class Listeners(list[Callable[[str], object]]):
            def append(self, listener: Callable[[str], object]) -> None:
                super().append(listener)
                outer.listening.set()

        self.digit_listeners = Listeners(self.digit_listeners)

    def key(self, keys: str) -> None:
        for key in keys:
            for listener in list(self.digit_listeners):
                listener(key)

    # the call's media

    async def play(self, samples: Samples, loops: int = 1) -> None:
        self.done.append(("play", len(samples), loops))
        if self.playing is not None:
            await self.playing.wait()

    def stop_playing(self) -> None:
        self.done.append(("stop_playing",))

    async def press(self, digits: str) -> None:
        self.done.append(("press", digits))

    async def wait(self, seconds: float) -> None:
        self.done.append(("wait", seconds))

    async def echo(self, timeout_s: float | None) -> None:
        self.done.append(("echo", timeout_s))

    async def speak(self, text: str, voice: str | None, language: str | None) -> Samples:
        self.done.append(("speak", text, voice, language))
        if text not in self.speech:
            raise SpeechError(f"no voice for {text!r}")
        return self.speech[text]

    async def audio(self, url: str) -> Samples:
        self.done.append(("audio", url))
        found = self.files[url]
        if isinstance(found, Exception):
            raise found
        return found

    def absolute(self, url: str) -> str:
        return urljoin(self.document_url, url) if self.document_url else url

    async def notify(self, notice: Notice) -> None:
        self.notes.append((notice.kind, notice.detail, notice.level))

    # recordings

    async def begin_recording(self, *, source: str, channels: str, track: str, trim: bool | str) -> Handle:
        self.done.append(("begin_recording", source, channels, track, trim))
        return Handle(source, channels, track, trim)

    async def finish_recording(self, handle: Handle) -> Recording:
        self.done.append(("finish_recording", handle.source))
        return Recording(
            id=uuid4(),
            account_id=self.call.account_id,
            call_id=self.call.id,
            created_at=T0,
            updated_at=T0,
            source=handle.source,
            status=self.recording_status,
            duration_s=3 if self.recording_status == "completed" else 0,
        )

    async def recording_callback(
        self, url: str | None, method: str, events: Sequence[str], recording: RecordingRef
    ) -> None:
        self.callbacks.append((url, method, tuple(events), recording.source))

    async def start_recording(self, verb: StartRecording) -> None:
        self.done.append(("start_recording", verb.name))

    async def stop_recording(self, name: str | None) -> None:
        self.done.append(("stop_recording", name))

    @property
    def children(self) -> Any:
        return self.children_

    def monotonic(self) -> float:
        now = self.now
        self.now += self.tick
        self.looked_at.append(now)
        return now


class Party_:
    """One fake child call, as `ChildCall`."""

    def __init__(self, call: Call, *, hangs_up_in_whisper: bool = False, bridge_ends: str = "callee") -> None:
        self.call = call
        self.hung_up = False
        self.did: list[tuple[Any, ...]] = []
        self._hangs_up = hangs_up_in_whisper
        self._bridge_ends = bridge_ends

    async def press(self, digits: str) -> None:
        self.did.append(("press", digits))

    async def whisper(self) -> None:
        self.did.append(("whisper",))
        self.hung_up = self._hangs_up

    async def bridge(self, *, time_limit_s: int, hangup_on_star: bool) -> str:
        self.did.append(("bridge", time_limit_s, hangup_on_star))
        return self._bridge_ends

    async def end(self, by: str) -> None:
        self.did.append(("end", by))
        self.call = _replace(self.call, status=CallStatus.COMPLETED, duration_s=7)


def _replace(call: Call, **changes: Any) -> Call:
    return replace(call, **changes)


class Children:
    """Fake child calls: each party placed becomes a call with the status `outcomes` gives its number;
    the one whose outcome is `answer` answers."""

    def __init__(self, outcomes: dict[str, str], **party: Any) -> None:
        self.outcomes = outcomes
        self.placed: list[Party] = []
        self.released = False
        self.party = party
        self.answered: Party_ | None = None

    @asynccontextmanager
    async def place(self, parties: Sequence[Party]) -> Any:
        self.placed = list(parties)
        calls = [
            make_call(to=p.to, from_=p.from_, options=p.options, status=CallStatus.QUEUED) for p in parties
        ]
        outer = self

        class Attempt:
            @property
            def calls(self) -> list[Call]:
                return calls

            async def first_to_answer(self, timeout_s: int) -> Party_ | None:
                for i, call in enumerate(calls):
                    outcome = outer.outcomes[call.to]
                    if outcome == "answer":
                        outer.answered = Party_(call, **outer.party)
                        return outer.answered
                    calls[i] = _replace(call, status=CallStatus(outcome))
                return None

        try:
            yield Attempt()
        finally:
            self.released = True


def tone(n: int = 160) -> Samples:
    return np.full(n, 1000, dtype=np.int16)
