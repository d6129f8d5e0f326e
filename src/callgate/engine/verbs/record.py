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
from typing import TYPE_CHECKING

import numpy as np

from callgate.core.verbs import Record
from callgate.engine.faces import RecordingRef
from callgate.engine.verbs import Goto, Step
from callgate.telephony.media.g711 import Samples

if TYPE_CHECKING:
    from callgate.engine.session import Session

BEEP_HZ = 1000.0
BEEP_S = 0.5
#: mean absolute level (16-bit samples) under which a 20 ms frame counts as silence
SILENCE_LEVEL = 300


def beep() -> Samples:
    t = np.arange(int(8000 * BEEP_S)) / 8000
    return (np.sin(2 * np.pi * BEEP_HZ * t) * 8000).astype(np.int16)


async def run(session: Session, verb: Record) -> Step:
    if verb.play_beep:
        await session.play(beep())
    engine = session.engine
    recording = engine.recordings.planned(
        session.call,
        source="RecordVerb",
        channels="mono",
        track="inbound",
        trim=verb.trim,
        folder=engine.recordings_dir,
    )
    handle = await engine.recordings.start(recording, session.media)
    finished_by: list[str] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    last_voice = [loop.time()]

    def on_digit(key: str) -> None:
        if verb.finish_on_key and key in verb.finish_on_key and not done.is_set():
            finished_by.append(key)
            done.set()

    def on_audio(inbound: Samples, _outbound: Samples) -> None:
        if int(np.abs(inbound.astype(np.int32)).mean()) >= SILENCE_LEVEL:
            last_voice[0] = loop.time()

    session.digit_listeners.append(on_digit)
    session.media.listeners.append(on_audio)
    try:
        await _until_done(session, verb, done, last_voice)
    finally:
        session.digit_listeners.remove(on_digit)
        session.media.listeners.remove(on_audio)
        recording = await asyncio.shield(engine.recordings.finish(handle))
    if session.hung_up.is_set() and not finished_by:
        finished_by.append("hangup")
    if recording.status != "completed":
        return None
    ref = RecordingRef.of(recording)
    await session.recording_callback(
        verb.recording_status_callback,
        verb.recording_status_callback_method,
        verb.recording_status_callback_events,
        ref,
    )
    url = session.absolute(verb.action) if verb.action else session.document_url
    if url is None:
        return None
    params = session.face.record_action_params(
        session.call, recording=ref, digits=finished_by[0] if finished_by else None
    )
    return Goto(url, verb.method, tuple(params), kind="action")


async def _until_done(session: Session, verb: Record, done: asyncio.Event, last_voice: list[float]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + verb.max_length_s
    while not done.is_set() and not session.hung_up.is_set():
        now = loop.time()
        if now >= deadline:
            return
        wake = deadline
        if verb.timeout_s > 0:
            quiet_until = last_voice[0] + verb.timeout_s
            if now >= quiet_until:
                return
            wake = min(wake, quiet_until)
        waits = {asyncio.ensure_future(done.wait()), asyncio.ensure_future(session.hung_up.wait())}
        try:
            await asyncio.wait(waits, timeout=max(0.0, wake - now), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
