"""The recordings of one running call: Record=true from the answer, those the Recordings API starts,
pauses, resumes and stops while the call runs, and <Start><Recording> / <Stop><Recording>.

The runner owns one `CallRecordings` per call: it hands it the call's stream once dialled, passes on
the API's changes (`sync_soon`), and at the call's end stops taking new ones (`close`), finishes
every one (`finish_started`, `finish_call_recording`) and puts what they were in the end's callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from callgate.core.call import Call, CallOptions
from callgate.core.verbs import StartRecording
from callgate.engine.faces import Face, RecordingRef
from callgate.engine.recordings import RecordingHandle
from callgate.engine.shared import Engine
from callgate.store.base import Recording
from callgate.telephony.aio.media import RtpStream

log = logging.getLogger("callgate.engine")

#: the recordings of a whole call, which the Recordings API may pause, resume and stop
CALL_RECORDINGS = ("OutboundAPI", "StartCallRecordingAPI", "StartCallRecordingTwiML")


class CallRecordings:
    """The recordings of the call `current()` returns, on its stream (`media`)."""

    def __init__(self, engine: Engine, face: Face, current: Callable[[], Call]) -> None:
        self.engine = engine
        self.face = face
        self._current = current
        #: the call's stream, once dialled
        self.media: RtpStream | None = None
        #: Record=true: the recording of the whole call from its answer
        self._recording: RecordingHandle | None = None
        #: the call's recordings started while it runs (the Recordings API, <Start><Recording>), being written
        self._started: dict[UUID, RecordingHandle] = {}
        self._lock = asyncio.Lock()
        self._sync: asyncio.Task[None] | None = None
        #: the recordings documents started, with the names they gave them
        self._named: list[tuple[str | None, UUID]] = []
        self._closed = False

    @property
    def call(self) -> Call:
        return self._current()

    def close(self) -> None:
        """The call is ending: no recording starts from now on."""
        self._closed = True

    async def start_call_recording(self, options: CallOptions) -> None:
        """Record=true: the call's recording, from its answer."""
        assert self.media is not None
        engine = self.engine
        recording = engine.recordings.planned(
            self.call,
            source="OutboundAPI",
            channels=options.recording_channels,
            track=options.recording_track,
            trim=options.trim,
            folder=engine.recordings_dir,
            status_callback=options.recording_status_callback,
            status_callback_method=options.recording_status_callback_method,
            status_callback_events=options.recording_status_callback_events or ("completed",),
        )
        self._recording = await engine.recordings.start(recording, self.media)
        await engine.recording_event(self.call, self.face, self._recording.recording, "in-progress")

    # recordings controlled through the API

    def sync_soon(self) -> None:
        """The call's recordings changed through the API: do what their rows now say, in order."""
        previous = self._sync

        async def sync() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await self._follow_rows()
            except Exception:
                log.exception("call %s: could not follow a change to its recordings", self.call.id)

        self._sync = asyncio.ensure_future(sync())

    async def _follow_rows(self) -> None:
        engine = self.engine
        async with self._lock:
            if self._closed or self.media is None:
                return
            rows = await engine.recordings.of_call(self.call.account_id, self.call.id)
            for row in rows:
                if row.source not in CALL_RECORDINGS:
                    continue
                handle = self._started.get(row.id)
                if handle is None and self._recording is not None and self._recording.recording.id == row.id:
                    handle = self._recording
                if handle is None:
                    await self._begin_api_recording(row)
                elif row.status == "paused":
                    handle.recorder.pause(row.pause_behavior)
                elif row.status == "in-progress":
                    handle.recorder.resume()
                elif row.status == "stopped":
                    await self._stop(handle)

    async def _begin_api_recording(self, row: Recording) -> None:
        engine = self.engine
        if row.source != "StartCallRecordingAPI" or self.media is None:
            return
        if row.status == "stopped":  # stopped before it began: nothing was recorded
            await engine.recording_event(self.call, self.face, await engine.recordings.abandon(row), "absent")
        elif row.status in ("in-progress", "paused"):
            handle = engine.recordings.attach(row, self.media, engine.recordings_dir)
            self._started[row.id] = handle
            await engine.recording_event(self.call, self.face, handle.recording, "in-progress")

    async def _stop(self, handle: RecordingHandle) -> None:
        """Finish a recording before the call ends (stopped through the API) and report it."""
        if handle is self._recording:
            self._recording = None
        else:
            del self._started[handle.recording.id]
        recording = await self.engine.recordings.finish(handle)
        await self.engine.recording_event(self.call, self.face, recording, recording.status)

    # recordings controlled by the call's documents (`session.RecordingControl`)

    async def start_twiml_recording(self, verb: StartRecording, callback_url: str | None) -> None:
        """<Start><Recording>: record the call from now on, as the API would have started it."""
        engine = self.engine
        recording = engine.recordings.planned(
            self.call, source="StartCallRecordingTwiML", channels=verb.channels, track=verb.track,
            trim=verb.trim, folder=engine.recordings_dir, status_callback=callback_url,
            status_callback_method=verb.recording_status_callback_method,
            status_callback_events=verb.recording_status_callback_events,
        )  # fmt: skip
        async with self._lock:
            if self._closed or self.media is None:
                return
            handle = await engine.recordings.start(recording, self.media)
            self._started[recording.id] = handle
            self._named.append((verb.name, recording.id))
        await engine.recording_event(self.call, self.face, handle.recording, "in-progress")

    async def stop_twiml_recording(self, name: str | None) -> None:
        """<Stop><Recording>: end the recording started under `name` (None: every one a document began)."""
        async with self._lock:
            chosen = [rid for given, rid in self._named if name is None or given == name]
            self._named = [(g, rid) for g, rid in self._named if rid not in chosen]
            for recording_id in chosen:
                handle = self._started.get(recording_id)
                if handle is not None:  # not already stopped through the API
                    await self._stop(handle)

    # the call's end

    async def finish_started(self) -> None:
        """The call ends: every recording started while it ran (API, document) ends with it, and is
        reported."""
        if self._sync is not None:
            await asyncio.gather(self._sync, return_exceptions=True)
        async with self._lock:
            for handle in list(self._started.values()):
                with contextlib.suppress(Exception):
                    await self._stop(handle)

    async def finish_call_recording(self) -> dict[str, Any]:
        """End the call's recording (Record=true); what the end's callbacks say about it."""
        handle, self._recording = self._recording, None
        if handle is None:
            return {}
        recording = await self.engine.recordings.finish(handle)
        # An `absent` one is reported too (RecordingStatusCallbackEvent=absent), without its audio.
        return {"recording": RecordingRef.of(recording).to_json(), "recording_status": recording.status}


__all__ = ["CALL_RECORDINGS", "CallRecordings"]
