"""<Record>: record what the far end says, then tell the action where the recording is.

A beep first (`playBeep`), then the caller's audio (the inbound track, mono) until `finishOnKey` is
pressed, `timeout` seconds pass without speech, `maxLength` is reached, or the caller hangs up. An
empty recording (nothing said, or nothing left after `trim`) makes no action request and the next verb
runs, as Twilio does. Otherwise the action (by default the current document's URL) gets RecordingUrl,
RecordingSid, RecordingDuration and Digits, and the RecordingStatusCallback (if any) hears of it
through the outbox.
"""

from __future__ import annotations

import asyncio

import numpy as np

from callgate.core.verbs import Record
from callgate.engine.verbs.base import CallContext, Goto, RecordingRef, Samples, Step

BEEP_HZ = 1000.0
BEEP_S = 0.5
#: mean absolute level (16-bit samples) under which a 20 ms frame counts as silence
SILENCE_LEVEL = 300


def beep() -> Samples:
    t = np.arange(int(8000 * BEEP_S)) / 8000
    return (np.sin(2 * np.pi * BEEP_HZ * t) * 8000).astype(np.int16)


async def run(ctx: CallContext, verb: Record) -> Step:
    if verb.play_beep:
        await ctx.play(beep())
    handle = await ctx.begin_recording(source="RecordVerb", channels="mono", track="inbound", trim=verb.trim)
    finished_by: list[str] = []
    done = asyncio.Event()
    last_voice = [ctx.monotonic()]

    def on_digit(key: str) -> None:
        if verb.finish_on_key and key in verb.finish_on_key and not done.is_set():
            finished_by.append(key)
            done.set()

    def on_audio(inbound: Samples, _outbound: Samples) -> None:
        if int(np.abs(inbound.astype(np.int32)).mean()) >= SILENCE_LEVEL:
            last_voice[0] = ctx.monotonic()

    ctx.digit_listeners.append(on_digit)
    ctx.audio_listeners.append(on_audio)
    try:
        await _until_done(ctx, verb, done, last_voice)
    finally:
        ctx.digit_listeners.remove(on_digit)
        ctx.audio_listeners.remove(on_audio)
        recording = await asyncio.shield(ctx.finish_recording(handle))
    if ctx.hung_up.is_set() and not finished_by:
        finished_by.append("hangup")
    if recording.status != "completed":
        return None
    ref = RecordingRef.of(recording)
    await ctx.recording_callback(
        verb.recording_status_callback,
        verb.recording_status_callback_method,
        verb.recording_status_callback_events,
        ref,
    )
    url = ctx.absolute(verb.action) if verb.action else ctx.document_url
    if url is None:
        return None
    params = ctx.face.record_action_params(
        ctx.call, recording=ref, digits=finished_by[0] if finished_by else None
    )
    return Goto(url, verb.method, tuple(params), kind="action")


async def _until_done(ctx: CallContext, verb: Record, done: asyncio.Event, last_voice: list[float]) -> None:
    deadline = ctx.monotonic() + verb.max_length_s
    while not done.is_set() and not ctx.hung_up.is_set():
        now = ctx.monotonic()
        if now >= deadline:
            return
        wake = deadline
        if verb.timeout_s > 0:
            quiet_until = last_voice[0] + verb.timeout_s
            if now >= quiet_until:
                return
            wake = min(wake, quiet_until)
        waits = {asyncio.ensure_future(done.wait()), asyncio.ensure_future(ctx.hung_up.wait())}
        try:
            await asyncio.wait(waits, timeout=max(0.0, wake - now), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
