"""Answering-machine detection on a call in progress: the sans-IO detector (telephony/media/amd.py)
fed from the call's stream.

`amd_settings` reads a call's MachineDetection options. `listen` feeds the far end's audio to the
detector from the answer until it is known who answered, the far end hangs up, or `stop` is set
(the call ends on this side); it answers what is known by then, `unknown` when nothing was decided.
The interim result (`machine_start` while a DetectMessageEnd greeting goes on) is handed to
`on_interim` first, for SignalWire's AsyncAmdPartialResults. The runner writes the result on the
call and sends the AsyncAmdStatusCallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from callgate.core.call import CallOptions
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.media.amd import AmdSettings, MachineDetector
from callgate.telephony.media.audio import Samples

OnInterim = Callable[[str, int], Awaitable[None]]  # (answered_by, detection ms)


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


__all__ = ["OnInterim", "amd_settings", "listen"]
