"""Recording calls: the recorder on a call's audio, and the service that keeps the Recording rows.

A `CallRecorder` listens to one `RtpStream` (each 20 ms tick hands it what was heard and what was
sent) and writes a WAV file as the call goes, through `telephony.media.recorder.Recorder`.
`RecordingService.start` opens the file and stores the recording `in-progress`; `finish` closes the
file (trimming it if asked) and stores it `completed` with its duration, or `absent` when nothing
was left to keep. Files are `<folder>/<recording id>.wav`; an MP3 asked for is made once and kept
beside it (`.mp3`), and both go when the recording is deleted.

The Recordings API's two commands on a call in progress are service functions too:
`start_on_call` (CreateCallRecording) stores the recording and tells whoever runs the call, and
`control_on_call` (UpdateCallRecording) pauses, resumes or stops one; the call is reached through
`RunningCalls` (the `CallService` in the app). Both answer None for what does not exist (the route
renders its 404) and raise `InvalidCallState` (21220) for what the call's or recording's state forbids.
"""

from __future__ import annotations

import asyncio
import io
import logging
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol
from uuid import UUID, uuid4

import numpy as np

from callgate.core.call import Call
from callgate.core.errors import InvalidCallState
from callgate.core.status import CallStatus
from callgate.engine.clock import new_id, utcnow
from callgate.store.base import Page, Recording, RecordingFilter, Store
from callgate.telephony.aio.media import RtpStream
from callgate.telephony.media.audio import RATE, Samples, encode_mp3, read_wav
from callgate.telephony.media.recorder import TRACKS, Recorder

log = logging.getLogger(__name__)

MediaFormat = Literal["wav", "mp3"]
CONTENT_TYPES: dict[str, str] = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}
#: the recordings of a call that the API may pause, resume and stop (by their source)
CONTROLLABLE = ("OutboundAPI", "StartCallRecordingAPI", "StartCallRecordingTwiML")
#: the statuses of a recording that is going
GOING = ("in-progress", "paused")


class RunningCalls(Protocol):
    """What the recordings service needs of the calls: read one, and tell whoever runs it that its
    recordings changed (`CallService.recordings_changed`: InvalidCallState unless in progress)."""

    async def get(self, account_id: UUID, call_id: UUID) -> Call | None: ...

    async def recordings_changed(
        self, account_id: UUID, call_id: UUID, verb: str = "record"
    ) -> Call | None: ...


class CallRecorder:
    """Records one call's audio (a track, or both mixed or one a channel) into a WAV file.

    `start` attaches it to the stream; `pause` records silence in place of the call's audio (or,
    with `skip`, leaves nothing for the time paused) until `resume`; `stop` detaches it; `close`
    finishes the file and gives its duration in seconds. `close` may rewrite the whole file
    (trimming), so the service runs it off the event loop.
    """

    def __init__(
        self, stream: RtpStream, path: Path, *, track: str = "both", dual: bool = False, trim: bool = False
    ) -> None:
        self.stream = stream
        self.path = path
        self.recorder = Recorder(path, track=track, dual=dual, trim=trim)
        self.channels = 2 if self.recorder.dual else 1
        self.paused = False
        self.skip = False

    def _listen(self, inbound: Samples, outbound: Samples) -> None:
        if not self.paused:
            self.recorder(inbound, outbound)
        elif not self.skip:
            silence = np.zeros(len(inbound), dtype=np.int16)
            self.recorder(silence, silence)

    def start(self) -> None:
        if self._listen not in self.stream.listeners:
            self.stream.listeners.append(self._listen)

    def pause(self, behavior: str = "skip") -> None:
        """Stop recording the call's audio: `silence` writes silence meanwhile, `skip` nothing."""
        self.paused = True
        self.skip = behavior == "skip"

    def resume(self) -> None:
        self.paused = False

    def stop(self) -> None:
        if self._listen in self.stream.listeners:
            self.stream.listeners.remove(self._listen)

    @property
    def seconds(self) -> float:
        return self.recorder.seconds

    def close(self) -> float:
        """Detach and finish the file (trimmed if asked): its duration in seconds."""
        self.stop()
        return self.recorder.close()


@dataclass(frozen=True, slots=True)
class RecordingHandle:
    """A recording under way: its row as stored when it began, and the recorder writing it."""

    recording: Recording
    recorder: CallRecorder


class RecordingService:
    """Recordings: starting and finishing them on a call, reading, deleting, and their audio."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        ids: Callable[[], UUID] = new_id,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids

    async def start(self, recording: Recording, stream: RtpStream) -> RecordingHandle:
        """Start writing `recording` (made by `planned`) from `stream` and store it `in-progress`.
        The recorder listens before the row is written: the recording holds the call from now, not
        from whenever the store has answered."""
        recorder = self._recorder(recording, stream)
        recorder.start()
        try:
            await self.store.insert_recording(recording)
        except BaseException:
            recorder.close()
            Path(str(recording.path)).unlink(missing_ok=True)
            raise
        return RecordingHandle(recording, recorder)

    def planned(
        self,
        call: Call,
        *,
        source: str,
        channels: int | str = 1,
        track: str = "both",
        trim: bool | str = False,
        folder: Path,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: tuple[str, ...] = ("completed",),
    ) -> Recording:
        """The row of a recording of `call` about to start (`in-progress`), its file in `folder`.

        `channels` is 1/2 or Twilio's mono/dual, `trim` a bool or trim-silence/do-not-trim. Dual
        channels need both tracks (one a channel); with one track the file is mono.
        """
        if track not in TRACKS:
            raise ValueError(f"track must be one of {TRACKS}: {track}")
        dual = channels in (2, "2", "dual")
        recording_id = self.ids()
        now = self.clock()
        return Recording(
            id=recording_id,
            account_id=call.account_id,
            call_id=call.id,
            created_at=now,
            updated_at=now,
            source=source,
            status="in-progress",
            channels=2 if dual and track == "both" else 1,
            track=track,
            start_time=now,
            path=str(folder.resolve() / f"{recording_id}.wav"),
            api_version=call.api_version,
            status_callback=status_callback,
            status_callback_method=status_callback_method,
            status_callback_events=status_callback_events,
            trim=trim is True or trim == "trim-silence",
        )

    def _recorder(self, recording: Recording, stream: RtpStream) -> CallRecorder:
        path = Path(str(recording.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        return CallRecorder(
            stream, path, track=recording.track, dual=recording.channels == 2, trim=recording.trim
        )

    def attach(self, recording: Recording, stream: RtpStream, folder: Path) -> RecordingHandle:
        """Start writing a recording already stored (started through the API) from `stream`, into
        `folder` (this worker's, which need not be the API node's)."""
        recording = replace(recording, path=str(folder.resolve() / f"{recording.id}.wav"))
        recorder = self._recorder(recording, stream)
        if recording.status == "paused":
            recorder.pause(recording.pause_behavior)
        recorder.start()
        return RecordingHandle(recording, recorder)

    async def control(
        self, account_id: UUID, recording_id: UUID, status: str, pause_behavior: str | None = None
    ) -> Recording | None:
        """Pause, resume or stop a recording that is going; None if it is not (or does not exist)."""
        return await self.store.control_recording(account_id, recording_id, status, pause_behavior,
                                                  self.clock())  # fmt: skip

    async def start_on_call(
        self,
        calls: RunningCalls,
        account_id: UUID,
        call_id: UUID,
        *,
        folder: Path,
        channels: int | str = "mono",
        track: str = "both",
        trim: bool | str = "do-not-trim",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: tuple[str, ...] = ("completed",),
    ) -> Recording | None:
        """Start recording a call in progress (the API's CreateCallRecording): the recording is stored
        `in-progress` and the worker running the call starts writing it at once. None if there is no
        such call (or it went away meanwhile); InvalidCallState unless it is in progress."""
        call = await calls.get(account_id, call_id)
        if call is None:
            return None
        if call.status is not CallStatus.IN_PROGRESS:
            raise InvalidCallState("Call is not in-progress. Cannot record.")
        recording = self.planned(
            call,
            source="StartCallRecordingAPI",
            channels=channels,
            track=track,
            trim=trim,
            folder=folder,
            status_callback=status_callback,
            status_callback_method=status_callback_method,
            status_callback_events=status_callback_events,
        )
        await self.store.insert_recording(recording)
        try:
            moved = await calls.recordings_changed(account_id, call_id)
        except BaseException:
            await self.store.delete_recording(account_id, recording.id)  # the call ended meanwhile
            raise
        if moved is None:
            await self.store.delete_recording(account_id, recording.id)
            return None
        return recording

    async def control_on_call(
        self,
        calls: RunningCalls,
        account_id: UUID,
        call_id: UUID,
        recording_id: UUID | None,
        status: str,
        pause_behavior: str = "silence",
    ) -> Recording | None:
        """Pause (`paused`, with `pause_behavior` skip or silence), resume (`in-progress`) or stop
        (`stopped`) a recording of a call in progress (the API's UpdateCallRecording); `recording_id`
        None names the last controllable one going now. The worker running the call follows at once.
        None if there is no such recording of this call; InvalidCallState if its source or status, or
        the call's, forbids the change."""
        if recording_id is None:
            going = [
                r
                for r in await self.of_call(account_id, call_id)
                if r.status in GOING and r.source in CONTROLLABLE
            ]
            if not going:
                return None
            rec = going[-1]
        else:
            found = await self.store.get_recording(account_id, recording_id)
            if found is None or found.call_id != call_id:
                return None
            rec = found
        if rec.source not in CONTROLLABLE:
            raise InvalidCallState(f"A recording made by {rec.source} cannot be paused, resumed or stopped")
        if rec.status not in GOING:
            raise InvalidCallState(f"The recording is {rec.status}: only a recording in progress can change")
        call = await calls.get(account_id, call_id)
        if call is None or call.status is not CallStatus.IN_PROGRESS:
            raise InvalidCallState("Call is not in-progress. Cannot update the recording.")
        behavior = pause_behavior if status == "paused" else None
        changed = await self.control(account_id, rec.id, status, behavior)
        if changed is None:  # it ended meanwhile
            raise InvalidCallState("The recording is no longer in progress")
        await calls.recordings_changed(account_id, call_id, "update the recording")
        return changed

    async def of_call(self, account_id: UUID, call_id: UUID) -> list[Recording]:
        """Every recording of a call, oldest first."""
        found: list[Recording] = []
        page = Page(size=1000)
        while True:
            rows = await self.store.list_recordings(account_id, call_id, RecordingFilter(), page)
            found.extend(rows)
            if len(rows) < page.size:
                return sorted(found, key=lambda r: (r.created_at, r.seq or 0))
            page = Page(size=page.size, after=rows[-1].id)

    async def finish(self, handle: RecordingHandle) -> Recording:
        """Stop recording and store the result: `completed` with its duration in whole seconds,
        `absent` (file removed) when nothing was recorded or trimming left nothing, `failed` if
        the file could not be finished."""
        handle.recorder.stop()  # on the loop: no tick writes after this
        recording = handle.recording
        try:
            seconds = await asyncio.to_thread(handle.recorder.close)
        except OSError:
            log.exception("recording %s could not be finished", recording.id)
            status, duration, path = "failed", None, recording.path
        else:
            duration = int(round(seconds))
            status, path = ("completed", recording.path) if seconds > 0 else ("absent", None)
            if path is None:
                handle.recorder.path.unlink(missing_ok=True)
        done = replace(recording, status=status, duration_s=duration, path=path, updated_at=self.clock())
        stored = await self.store.update_recording(done)
        if stored is None:  # deleted while it was being recorded: the file goes too
            _remove_files(path)
            return replace(done, path=None)
        return stored

    async def abandon(self, recording: Recording) -> Recording:
        """A recording that never got any audio (stopped before it began, or its call ended first)
        is stored `absent`."""
        done = replace(recording, status="absent", duration_s=0, path=None, updated_at=self.clock())
        return await self.store.update_recording(done) or done

    async def salvage(self, recording: Recording) -> Recording:
        """A recording still going when its worker was lost: what its file holds up to the header's
        last update (the WAV is written incrementally, its header rewritten every second) is kept as
        `completed`; a file that is missing, unreadable here or empty leaves it `absent`."""
        seconds = await asyncio.to_thread(_wav_seconds, recording.path)
        if not seconds:
            return await self.abandon(recording)
        done = replace(recording, status="completed", duration_s=max(1, int(round(seconds))),
                       updated_at=self.clock())  # fmt: skip
        return await self.store.update_recording(done) or done

    async def get(self, account_id: UUID, recording_id: UUID) -> Recording | None:
        return await self.store.get_recording(account_id, recording_id)

    async def search(
        self, account_id: UUID, call_id: UUID | None, flt: RecordingFilter, page: Page
    ) -> list[Recording]:
        return await self.store.list_recordings(account_id, call_id, flt, page)

    async def delete(self, account_id: UUID, recording_id: UUID) -> bool:
        """Delete the recording and its audio files; False if there is no such recording."""
        recording = await self.store.get_recording(account_id, recording_id)
        if recording is None or not await self.store.delete_recording(account_id, recording_id):
            return False
        await asyncio.to_thread(_remove_files, recording.path)
        return True

    async def media(self, recording: Recording, fmt: MediaFormat, *, mono: bool = False) -> bytes | None:
        """The recording's audio as a WAV or MP3 file, as recorded or (`mono`) with a dual-channel
        recording's two channels mixed into one (Twilio's RequestedChannels=1). None if it has no
        audio (not completed, or its file is gone). The MP3 as recorded is made on the first request
        and kept beside the WAV."""
        if recording.status != "completed" or recording.path is None:
            return None
        downmix = mono and recording.channels > 1
        return await asyncio.to_thread(_read_media, Path(recording.path), fmt, downmix)


def _wav_seconds(path: str | None) -> float:
    """The seconds of audio a WAV file's header counts; 0.0 if there is no readable file."""
    if path is None:
        return 0.0
    try:
        with wave.open(path) as wav:
            frames: int = wav.getnframes()
            rate: int = wav.getframerate() or RATE
            return frames / rate
    except (OSError, EOFError, wave.Error):
        return 0.0


def _remove_files(path: str | None) -> None:
    if path is None:
        return
    wav = Path(path)
    wav.unlink(missing_ok=True)
    wav.with_suffix(".mp3").unlink(missing_ok=True)


def _read_media(wav: Path, fmt: MediaFormat, downmix: bool) -> bytes | None:
    mp3 = wav.with_suffix(".mp3")
    try:
        if downmix:
            mixed = read_wav(wav.read_bytes())  # the channels averaged
            return encode_mp3(mixed) if fmt == "mp3" else _wav_of(mixed)
        if fmt == "wav":
            return wav.read_bytes()
        if mp3.exists():
            return mp3.read_bytes()
        data = _mp3_of(wav.read_bytes())
    except FileNotFoundError:
        return None
    # Kept for the next request; written aside and renamed, so no request ever reads half a file.
    partial = mp3.with_name(f"{mp3.name}.{uuid4().hex}.part")
    try:
        partial.write_bytes(data)
        partial.replace(mp3)
    except OSError:
        log.warning("could not keep %s", mp3, exc_info=True)
        partial.unlink(missing_ok=True)
    return data


def _wav_of(samples: Samples) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.astype("<i2").tobytes())
    return out.getvalue()


def _mp3_of(wav_bytes: bytes) -> bytes:
    """MP3 of a recording's WAV: mono through `encode_mp3`; a dual-channel one keeps its two channels."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        channels = wav.getnchannels()
        raw = wav.readframes(wav.getnframes())
    if channels == 1:
        return encode_mp3(read_wav(wav_bytes))
    import soundfile

    stereo = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).astype(np.float64) / 32768
    out = io.BytesIO()
    soundfile.write(out, stereo, RATE, format="MP3")
    return out.getvalue()


__all__ = [
    "CONTENT_TYPES",
    "CallRecorder",
    "MediaFormat",
    "RecordingHandle",
    "RecordingService",
]
