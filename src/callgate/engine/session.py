"""One answered call running its documents: fetch, parse, run the verbs, follow Goto, end.

The session is what a verb sees of the call (it is the verbs' `CallContext`, `verbs/base.py`): its
audio (`play`, `press`, `digit_listeners`), speech and audio files, the current document's URL
(relative URLs resolve against it), the debugger (`notify`), recordings and child calls. The API
can interrupt it (`interrupt`): the running verb stops at once and the new document (a URL or inline
markup) runs instead, as Twilio does for a call updated with Url or Twiml.

Documents fetched in a row without media progress (a verb that played, waited or listened) are paced
and bounded (`DocumentPacer`), so a `<Redirect>` loop ends the call instead of running until its time
limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urljoin

import numpy as np

from callgate.core.call import Account, Call
from callgate.core.notices import Notice, NoticeKind
from callgate.core.verbs import Dial, Document, DocumentError, Gather, Play, Record, Say, StartRecording
from callgate.engine.callbacks import outgoing
from callgate.engine.faces import Face, Params, RecordingRef
from callgate.engine.pacing import DocumentPacer
from callgate.engine.recordings import RecordingHandle
from callgate.engine.shared import Engine
from callgate.engine.verbs.base import AudioListener, ChildCalls, Goto, Stop
from callgate.engine.verbs.registry import runner_for
from callgate.store.base import Recording
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.media.audio import frames
from callgate.telephony.media.g711 import Samples

log = logging.getLogger("callgate.engine")

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
FRAME = 160
#: verbs that listen or ring: media progress when they kept the call this long (a Gather that waited
#: for digits, a Dial that rang), not when they ended at once (a Dial that failed)
LISTENING = (Gather, Record, Dial)
LISTENED_S = 1.0


@dataclass(frozen=True, slots=True)
class Inline:
    """A document given in the request itself (Twiml / Laml)."""

    markup: str


Target = Goto | Inline


class RecordingControl(Protocol):
    """What runs the call offers a document for <Start><Recording> and <Stop><Recording>."""

    async def start_twiml_recording(self, verb: StartRecording, callback_url: str | None) -> None: ...
    async def stop_twiml_recording(self, name: str | None) -> None: ...


class Session:
    def __init__(
        self,
        engine: Engine,
        call: Call,
        account: Account,
        face: Face,
        media: RtpStream,
        hung_up: asyncio.Event | None = None,
    ) -> None:
        self.engine = engine
        #: set when the far end hangs up
        self.hung_up = hung_up if hung_up is not None else asyncio.Event()
        self.call = call
        self.account = account
        self.face = face
        self.media = media
        self.document_url: str | None = None
        #: the call's own recordings (set by the call's runner; None: a document cannot start one)
        self.call_recordings: RecordingControl | None = None
        #: the call's child calls (set by the call's runner; None: a document cannot <Dial>)
        self._children: ChildCalls | None = None
        self._interrupt: Target | None = None
        self._inner: asyncio.Task[Target | None] | None = None
        #: documents fetched since the call last made media progress
        self.pacer = DocumentPacer()
        self._progressed = False

    # what verbs use (`verbs.base.CallContext`)

    @property
    def children(self) -> ChildCalls:
        if self._children is None:
            raise RuntimeError("this call cannot place child calls")
        return self._children

    @children.setter
    def children(self, children: ChildCalls) -> None:
        self._children = children

    @property
    def digit_listeners(self) -> list[Callable[[str], object]]:
        return self.media.digit_listeners

    @property
    def audio_listeners(self) -> list[AudioListener]:
        return self.media.listeners

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def absolute(self, url: str) -> str:
        return urljoin(self.document_url, url) if self.document_url else url

    async def speak(self, text: str, voice: str | None, language: str | None) -> Samples:
        return await self.engine.speaker.speak(text, voice, language)

    async def audio(self, url: str) -> Samples:
        return await self.engine.audio.get(url)

    async def play(self, samples: Samples, loops: int = 1) -> None:
        chunks = frames(samples)
        if chunks and loops > 0:
            self._progressed = True
        done = self.media.play(itertools.chain.from_iterable(itertools.repeat(chunks, loops)))
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            self.media.stop_playing()
            raise

    def stop_playing(self) -> None:
        self.media.stop_playing()

    async def press(self, digits: str) -> None:
        self._progressed = self._progressed or bool(digits)
        await self.media.press(digits)

    async def wait(self, seconds: float) -> None:
        self._progressed = self._progressed or seconds > 0
        await asyncio.sleep(seconds)

    async def echo(self, timeout_s: float | None) -> None:
        heard: deque[Samples] = deque(maxlen=50)
        silence = np.zeros(FRAME, dtype=np.int16)

        def listen(inbound: Samples, _outbound: Samples) -> None:
            heard.append(inbound.copy())

        def frames_back() -> Iterator[Samples]:
            while True:
                yield heard.popleft() if heard else silence

        self._progressed = True
        self.media.listeners.append(listen)
        self.media.play(frames_back())
        try:
            if timeout_s:
                await asyncio.sleep(timeout_s)
            else:
                await asyncio.Future()
        finally:
            self.media.listeners.remove(listen)
            self.media.stop_playing()

    async def notify(self, notice: Notice) -> None:
        await self.engine.notify(self.call, notice)

    async def start_recording(self, verb: StartRecording) -> None:
        if self.call_recordings is None:
            cannot = "<Start><Recording> cannot record this call"
            await self.notify(Notice(NoticeKind.UNSUPPORTED, cannot, "warning"))
            return
        url = verb.recording_status_callback
        await self.call_recordings.start_twiml_recording(verb, None if url is None else self.absolute(url))

    async def begin_recording(
        self, *, source: str, channels: str, track: str, trim: bool | str
    ) -> RecordingHandle:
        engine = self.engine
        recording = engine.recordings.planned(
            self.call, source=source, channels=channels, track=track, trim=trim, folder=engine.recordings_dir
        )
        return await engine.recordings.start(recording, self.media)

    async def finish_recording(self, handle: RecordingHandle) -> Recording:
        return await self.engine.recordings.finish(handle)

    async def stop_recording(self, name: str | None) -> None:
        if self.call_recordings is not None:
            await self.call_recordings.stop_twiml_recording(name)

    async def recording_callback(
        self, url: str | None, method: str, events: Sequence[str], recording: RecordingRef
    ) -> None:
        """A verb's RecordingStatusCallback for a finished recording, into the outbox."""
        if not url or "completed" not in events:
            return
        engine, call = self.engine, self.call
        now = engine.clock()
        params = self.face.recording_status_params(call, recording=recording, status="completed")
        item = outgoing(call, kind="recording", url=self.absolute(url), method=method, params=params, at=now,
                        item_id=engine.ids())  # fmt: skip
        await engine.store.add_webhooks([item])
        engine.wake_outbox()

    # running documents

    def interrupt(self, target: Target) -> None:
        """Stop what runs now and run `target` instead (the API's redirect)."""
        self._interrupt = target
        if self._inner is not None and not self._inner.done():
            self._inner.cancel()

    async def run_for_hangup(self, first: Target) -> bool:
        """Run documents from `first`; True if they hung up (<Hangup>, <Reject>, a failure), False if
        they ran to their end (a whisper that lets the call go on)."""
        self._stopped = False
        await self.run(first)
        return self._stopped

    _stopped = False

    async def run(self, first: Target) -> None:
        """Run documents from `first` until one ends, hangs up or fails for good."""
        target: Target | None = first
        while target is not None:
            if isinstance(target, Goto) and not await self._paced(target):
                return
            if self._interrupt is not None:  # the API sent the call elsewhere while it waited its turn
                target, self._interrupt = self._interrupt, None
                self._progressed = True
                continue
            self._inner = asyncio.ensure_future(self._step(target))
            try:
                target = await self._inner
            except asyncio.CancelledError:
                if self._interrupt is None or not self._inner.cancelled():
                    raise
            if self._interrupt is not None:
                target, self._interrupt = self._interrupt, None
                self._progressed = True  # the API sent the call elsewhere: a new run of documents

    async def _paced(self, target: Goto) -> bool:
        """Wait for the next document's turn; False when the call has fetched too many in a row
        without media progress (reported, and the call ends)."""
        if self._progressed:
            self.pacer.progressed()
            self._progressed = False
        wait = self.pacer.before_fetch(self._now())
        if wait is None:
            message = (f"Document retrieval limit reached: {self.pacer.limit} documents in a row played "
                       f"nothing (a <Redirect> or action loop?); not fetched: {target.url}")  # fmt: skip
            await self.notify(
                Notice(NoticeKind.DOCUMENT_LIMIT_REACHED, message, url=target.url, method=target.method)
            )
            await self._application_error()
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    def _now(self) -> float:
        return self.engine.clock().timestamp()

    async def _step(self, target: Target) -> Target | None:
        if self.hung_up.is_set():
            # The far end is gone. A verb that reports its end (<Record>'s action, with Digits=hangup)
            # still makes its request, as Twilio does; what comes back is not run.
            if isinstance(target, Goto) and target.kind == "action":
                await self._fetch(target)
            return None
        document = await self._load(target)
        if document is None:
            return None
        for notice in document.notices:
            await self.notify(Notice(NoticeKind.DOCUMENT, notice.message, notice.level, self.document_url,
                                     cause=notice.code))  # fmt: skip
        for verb in document.verbs:
            started = self._now()
            step = await runner_for(verb)(self, verb)
            if isinstance(verb, LISTENING) and self._now() - started >= LISTENED_S:
                self._progressed = True
            if isinstance(step, Stop):
                self._stopped = True
                return None
            if isinstance(step, Goto):
                return step
        return None  # the end of a document ends the call

    async def _load(self, target: Target) -> Document | None:
        if isinstance(target, Inline):
            self.document_url = None
            try:
                return self.face.parse(target.markup)
            except DocumentError as exc:
                await self.notify(Notice(NoticeKind.DOCUMENT, exc.message, cause=exc.code))
                await self._application_error()
                return None
        document = await self._fetch(target)
        if document is not None:
            return document
        fallback = self.call.options.fallback_url
        if fallback and target.kind in ("voice", "redirect", "action", "api"):
            error = self._last_error or Notice(NoticeKind.FETCH_FAILED, f"{target.url} was not fetched")
            params = self.face.fallback_params(list(target.params), error=error, error_url=target.url)
            document = await self._fetch(
                Goto(fallback, self.call.options.fallback_method, tuple(params), kind="fallback")
            )
            if document is not None:
                return document
        await self._application_error()
        return None

    #: why the last document could not be run (what the fallback URL is told)
    _last_error: Notice | None = None

    async def _fetch(self, target: Goto) -> Document | None:
        params: Params = [*self.face.voice_params(self.call), *target.params]
        params = _dedupe(params)
        response = await self.engine.fetch_document(
            self.call, self.account, self.face, target.url, target.method, params, kind=target.kind
        )
        self._last_error = response.failure
        if response.failure is not None:
            return None
        self.document_url = response.url
        content_type = (response.content_type or "").split(";")[0].strip().lower()
        if content_type.startswith("audio/"):
            return Document((Play(response.url),))
        if content_type == "text/plain":
            return Document((Say(response.text),))
        if content_type and content_type not in ("text/xml", "application/xml", "text/html"):
            detail = f"Invalid Content-Type: {content_type}"
            self._last_error = Notice(NoticeKind.INVALID_CONTENT_TYPE, detail, url=response.url,
                                      method=target.method)  # fmt: skip
            await self.notify(self._last_error)
            return None
        try:
            return self.face.parse(response.body)
        except DocumentError as exc:
            self._last_error = Notice(NoticeKind.DOCUMENT, exc.message, url=response.url,
                                      method=target.method, cause=exc.code)  # fmt: skip
            await self.notify(self._last_error)
            return None

    async def _application_error(self) -> None:
        self._stopped = True  # a document that cannot run ends the call
        with contextlib.suppress(Exception):
            await self.play(await self.speak(APPLICATION_ERROR, None, "en-US"))


def _dedupe(params: Params) -> Params:
    """Later values win: the verb's own parameters replace the call's of the same name."""
    last = {name: i for i, (name, _) in enumerate(params)}
    return [pair for i, pair in enumerate(params) if last[pair[0]] == i]
