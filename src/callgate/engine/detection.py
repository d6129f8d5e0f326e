"""Answering-machine detection on a call in progress: the sans-IO detector (telephony/media/amd.py)
fed from the call's stream.

`amd_settings` reads a call's MachineDetection options. `listen` feeds the far end's audio to the
detector from the answer until it is known who answered, the far end hangs up, or `stop` is set
(the call ends on this side); it answers what is known by then, `unknown` when nothing was decided.
The interim result (`machine_start` while a DetectMessageEnd greeting goes on) is handed to
`on_interim` first, for SignalWire's AsyncAmdPartialResults. `AnswerDetection` runs it for a call's
runner: it writes the result on the call and sends the AsyncAmdStatusCallback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callgate.core.call import Call, CallOptions
from callgate.core.events import CallEvent, CallSettled, CallUpdated
from callgate.engine.callbacks import outgoing
from callgate.engine.faces import Face
from callgate.engine.shared import Engine
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.media.amd import AmdSettings, MachineDetector
from callgate.telephony.media.audio import Samples

log = logging.getLogger("callgate.engine")

OnInterim = Callable[[str, int], Awaitable[None]]  # (answered_by, detection ms)
#: writes an event on the call (the runner's): the call as it now is, None if it had already ended
Apply = Callable[..., Awaitable[Call | None]]


def amd_settings(options: CallOptions) -> AmdSettings | None:
    """MachineDetection's settings, or None without it (SendDigits turns it off, as on Twilio)."""
    if options.machine_detection not in ("Enable", "DetectMessageEnd") or options.send_digits:
        return None
    return AmdSettings(
        detect_message_end=options.machine_detection == "DetectMessageEnd",
        timeout_ms=options.machine_detection_timeout_s * 1000,
        speech_threshold_ms=options.machine_detection_speech_threshold_ms,
        speech_end_threshold_ms=options.machine_detection_speech_end_threshold_ms,
        silence_timeout_ms=options.machine_detection_silence_timeout_ms,
        words_threshold=options.machine_words_threshold,
    )


async def listen(
    settings: AmdSettings,
    media: RtpStream,
    hangup: asyncio.Event,
    stop: asyncio.Event,
    on_interim: OnInterim | None = None,
) -> tuple[str, int]:
    """Who answered, and after how many ms of the call's audio: once known, or what is known when
    the far end hangs up (`hangup`) or the call ends here (`stop`)."""
    detector = MachineDetector(settings)
    loop = asyncio.get_running_loop()
    known: asyncio.Future[str] = loop.create_future()
    interim: asyncio.Future[str] = loop.create_future()

    def hear(inbound: Samples, _outbound: Samples) -> None:
        if known.done():
            return
        result = detector.feed(inbound)
        if detector.interim is not None and not interim.done():
            interim.set_result(detector.interim)
        if result is not None:
            known.set_result(result)

    media.listeners.append(hear)
    stops = [asyncio.ensure_future(hangup.wait()), asyncio.ensure_future(stop.wait())]
    waits: set[asyncio.Future[Any]] = {known, *stops}
    if on_interim is not None:
        waits.add(interim)
    # The detector counts time in the audio; the clock is only a bound for a stream that carries
    # none (no media negotiated): then nobody could be told, and the answer is what is known.
    deadline = loop.time() + settings.timeout_ms / 1000 + 2
    try:
        while not known.done() and not any(s.done() for s in stops):
            left = max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            if interim in done and on_interim is not None:
                waits.discard(interim)
                await on_interim(interim.result(), detector.interim_ms)
    finally:
        for s in stops:
            s.cancel()
        if hear in media.listeners:
            media.listeners.remove(hear)
    answered_by = known.result() if known.done() else detector.hung_up()
    return answered_by, detector.elapsed_ms


class AnswerDetection:
    """The detection of who answered one call, in a task of its own which the call's end lets finish:
    the result is written even when the document is stopped meanwhile (the API ended the call)."""

    def __init__(self, engine: Engine, face: Face, current: Callable[[], Call], apply: Apply) -> None:
        self.engine = engine
        self.face = face
        self._current = current
        self._apply = apply
        self._task: asyncio.Future[None] | None = None
        self._stop = asyncio.Event()  # the call ends: detection says what it knows by then

    def start(self, settings: AmdSettings, media: RtpStream, hangup: asyncio.Event) -> asyncio.Future[None]:
        """Detect who answered (`listen`), until known or the call ends (either side), write AnsweredBy
        on the call (what is known by then: `unknown` if nothing was decided) and, with AsyncAmd, send
        the AsyncAmdStatusCallback; with AsyncAmdPartialResults, the interim result (`machine_start`
        while a greeting goes on) goes there first."""
        self._task = asyncio.ensure_future(self._detect(settings, media, hangup))
        return self._task

    def stop(self) -> None:
        """The call ends: detection still going says what it knows."""
        self._stop.set()

    async def finished(self) -> None:
        """Wait for the result to be written (answered_by is written before the call's end)."""
        if self._task is None:
            return
        (failed,) = await asyncio.gather(self._task, return_exceptions=True)
        if isinstance(failed, Exception):
            log.error("call %s: machine detection failed", self._current().id, exc_info=failed)

    async def _detect(self, settings: AmdSettings, media: RtpStream, hangup: asyncio.Event) -> None:
        options = self._current().options

        async def interim(answered_by: str, detection_ms: int) -> None:
            await self._callback(self._current(), answered_by, detection_ms)

        partials = interim if options.async_amd and options.async_amd_partial_results else None
        answered_by, took_ms = await listen(settings, media, hangup, self._stop, partials)
        event: CallEvent = CallUpdated(
            {"changed": ["answered_by"], "answered_by": answered_by, "detection_ms": took_ms}
        )
        call = await self._apply(event, answered_by=answered_by)
        if call is None:  # ended through the API meanwhile: the result is still the call's
            call = await self._apply(CallSettled({"answered_by": answered_by}), answered_by=answered_by)
        if call is not None and options.async_amd:
            await self._callback(call, answered_by, took_ms)

    async def _callback(self, call: Call, answered_by: str, detection_ms: int) -> None:
        """Queue an AsyncAmdStatusCallback request, if the call has the URL."""
        options = call.options
        if not options.async_amd_status_callback:
            return
        engine = self.engine
        params = self.face.amd_params(call, answered_by=answered_by, detection_duration_ms=detection_ms)
        item = outgoing(call, kind="amd", url=options.async_amd_status_callback,
                        method=options.async_amd_status_callback_method, params=params, at=engine.clock(),
                        item_id=engine.ids())  # fmt: skip
        await engine.store.add_webhooks([item])
        engine.wake_outbox()


__all__ = ["AnswerDetection", "Apply", "OnInterim", "amd_settings", "listen"]
