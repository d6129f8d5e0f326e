"""Recording a call: a CallRecorder on a real RTP stream pair on loopback, and the RecordingService
that stores the row, serves the audio as WAV and MP3, and deletes both."""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from dataclasses import replace
from datetime import timedelta
from itertools import count

import numpy as np
import pytest
import soundfile

from callgate.core.call import Call
from callgate.core.errors import InvalidCallState
from callgate.core.status import CallStatus
from callgate.engine.recordings import CallRecorder, RecordingService
from callgate.store.base import Page, RecordingFilter
from callgate.telephony.aio.media import MediaClock, RtpStream
from callgate.telephony.media.audio import WavWriter, frames, read_audio
from callgate.telephony.media.tones import tone
from tests.audio_checks import best_alignment
from tests.store.test_sql import T0, make_call, new_account_id

pytestmark = pytest.mark.anyio

A_TONE = np.concatenate([tone((440.0,), 0.3), tone((660.0, 990.0), 0.3)])  # what the far end says
B_TONE = tone((523.0, 784.0), 0.4)  # what Callgate sends


@pytest.fixture
async def streams():
    clock = MediaClock()
    a, b = await RtpStream.open(clock=clock), await RtpStream.open(clock=clock)
    a.connect(b.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
    b.connect(a.local_address, codec="PCMU", payload_type=0, dtmf_payload_type=101)
    yield a, b
    a.close()
    b.close()


def after_ticks(stream: RtpStream, n: int) -> asyncio.Future[None]:
    """Completes once `stream` has ticked `n` more times (the last frames through the network and
    the jitter buffer)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ticks = count(1)

    def tick(_inbound, _outbound) -> None:
        if next(ticks) >= n and not done.done():
            stream.listeners.remove(tick)
            done.set_result(None)

    stream.listeners.append(tick)
    return done


async def converse(a: RtpStream, b: RtpStream, *, b_says: bool = False) -> None:
    """The far end (a) says A_TONE to b; b says B_TONE at the same time if asked."""
    plays = [a.play(frames(A_TONE))] + ([b.play(frames(B_TONE))] if b_says else [])
    await asyncio.wait_for(asyncio.gather(*plays), timeout=5)
    await asyncio.wait_for(after_ticks(b, 10), timeout=5)


def wav_channels(data: bytes) -> list[np.ndarray]:
    with wave.open(io.BytesIO(data)) as w:
        n = w.getnchannels()
        assert (w.getframerate(), w.getsampwidth()) == (8000, 2)
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, n)
    return [samples[:, i].astype(np.int16) for i in range(n)]


async def test_call_recorder_writes_what_the_stream_hears(streams, tmp_path):
    a, b = streams
    recorder = CallRecorder(b, tmp_path / "heard.wav", track="inbound")
    recorder.start()
    await converse(a, b)
    seconds = recorder.close()
    assert recorder._listen not in b.listeners  # detached: the stream no longer feeds it
    (heard,) = wav_channels((tmp_path / "heard.wav").read_bytes())
    assert best_alignment(heard, A_TONE) > 0.95  # through G.711 and the network, nothing lost
    assert seconds == len(heard) / 8000 and 0.6 <= seconds < 1.5


async def test_pause_leaves_a_gap(streams, tmp_path):
    a, b = streams
    recorder = CallRecorder(b, tmp_path / "paused.wav", track="outbound")
    recorder.start()
    recorder.pause()
    await asyncio.wait_for(b.play(frames(B_TONE)), timeout=5)  # sent while paused: not recorded
    recorder.resume()
    await asyncio.wait_for(after_ticks(b, 5), timeout=5)
    recorder.close()
    (kept,) = wav_channels((tmp_path / "paused.wav").read_bytes())
    assert len(kept) >= 5 * 160 and np.abs(kept).max() == 0


async def test_pause_with_silence_keeps_the_time_as_silence(streams, tmp_path):
    a, b = streams
    recorder = CallRecorder(b, tmp_path / "silenced.wav", track="outbound")
    recorder.start()
    recorder.pause("silence")
    await asyncio.wait_for(b.play(frames(B_TONE)), timeout=5)  # sent while paused: silence instead
    recorder.resume()
    await asyncio.wait_for(b.play(frames(B_TONE)), timeout=5)  # recorded
    await asyncio.wait_for(after_ticks(b, 2), timeout=5)
    recorder.close()
    (kept,) = wav_channels((tmp_path / "silenced.wav").read_bytes())
    first_sound = int(np.flatnonzero(kept)[0])
    assert first_sound >= len(B_TONE), "the paused time is in the file, as silence"
    assert best_alignment(kept[first_sound:], B_TONE) > 0.9


async def test_service_records_a_call_then_serves_and_deletes_it(store, streams, tmp_path):
    a, b = streams
    account_id = await new_account_id(store)
    call = make_call(account_id)
    clock = iter([T0, T0 + timedelta(seconds=1)])
    service = RecordingService(store, clock=lambda: next(clock))
    recording = service.planned(
        call, source="OutboundAPI", channels="mono", track="inbound", trim="do-not-trim",
        folder=tmp_path / "r",
    )  # fmt: skip
    handle = await service.start(recording, b)
    started = await store.get_recording(account_id, handle.recording.id)
    assert started is not None and (started.status, started.call_id, started.duration_s) == (
        "in-progress",
        call.id,
        None,
    )
    assert await service.media(started, "wav") is None  # nothing to download while it records

    await converse(a, b)
    done = await service.finish(handle)
    assert (done.status, done.channels, done.track, done.source) == ("completed", 1, "inbound", "OutboundAPI")
    assert done.duration_s == 1 and done.start_time == T0 and done.updated_at == T0 + timedelta(seconds=1)
    assert replace(await store.get_recording(account_id, done.id), seq=None) == done
    assert b.listeners == []

    wav = await service.media(done, "wav")
    assert wav == (tmp_path / "r" / f"{done.id}.wav").read_bytes()
    (heard,) = wav_channels(wav)
    assert best_alignment(heard, A_TONE) > 0.95
    mp3 = await service.media(done, "mp3")
    assert mp3 is not None and mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0  # an MPEG audio frame sync
    decoded = read_audio(mp3)
    assert abs(len(decoded) - len(heard)) < 2400 and best_alignment(decoded, A_TONE[:2400]) > 0.8
    assert (tmp_path / "r" / f"{done.id}.mp3").exists()  # kept for the next request
    assert await service.media(done, "mp3") == mp3

    listed = await service.search(account_id, call.id, RecordingFilter(), Page(10))
    assert [r.id for r in listed] == [done.id]
    assert await service.delete(account_id, done.id)
    assert list((tmp_path / "r").iterdir()) == []  # the WAV and the MP3 are gone
    assert await service.get(account_id, done.id) is None
    assert not await service.delete(account_id, done.id)


async def test_dual_channels_keep_each_side_apart_and_mix_down_on_request(store, streams, tmp_path):
    a, b = streams
    call = make_call(await new_account_id(store))
    service = RecordingService(store)
    handle = await service.start(
        service.planned(call, source="DialVerb", channels="dual", track="both", folder=tmp_path), b
    )
    await converse(a, b, b_says=True)
    done = await service.finish(handle)
    assert (done.channels, done.status) == (2, "completed")

    wav = await service.media(done, "wav")
    heard, sent = wav_channels(wav)  # channel 1: the far end; channel 2: what Callgate sent
    assert best_alignment(heard, A_TONE) > 0.95 and best_alignment(heard, B_TONE) < 0.3
    assert best_alignment(sent, B_TONE) > 0.99 and best_alignment(sent, A_TONE) < 0.3

    (mixed,) = wav_channels(await service.media(done, "wav", mono=True))
    assert len(mixed) == len(heard)
    assert best_alignment(mixed, A_TONE) > 0.5 and best_alignment(mixed, B_TONE) > 0.5
    stereo_mp3 = await service.media(done, "mp3")
    decoded, rate = soundfile.read(io.BytesIO(stereo_mp3), always_2d=True)
    assert rate == 8000 and decoded.shape[1] == 2


async def test_silence_trimmed_to_nothing_is_absent(store, streams, tmp_path):
    _, b = streams
    call = make_call(await new_account_id(store))
    service = RecordingService(store)
    handle = await service.start(
        service.planned(call, source="RecordVerb", track="inbound", trim="trim-silence", folder=tmp_path), b
    )
    await asyncio.wait_for(after_ticks(b, 10), timeout=5)  # the far end says nothing
    done = await service.finish(handle)
    assert (done.status, done.duration_s, done.path) == ("absent", 0, None)
    assert list(tmp_path.iterdir()) == []
    assert await service.media(done, "wav") is None
    assert (await store.get_recording(call.account_id, done.id)).status == "absent"


async def test_a_recording_deleted_while_recording_takes_its_file_along(store, streams, tmp_path):
    _, b = streams
    call = make_call(await new_account_id(store))
    service = RecordingService(store)
    handle = await service.start(service.planned(call, source="OutboundAPI", folder=tmp_path), b)
    await asyncio.wait_for(after_ticks(b, 10), timeout=5)
    assert await store.delete_recording(call.account_id, handle.recording.id)
    done = await service.finish(handle)
    assert done.path is None and list(tmp_path.iterdir()) == []


async def test_start_refuses_an_unknown_track(store, streams, tmp_path):
    _, b = streams
    service = RecordingService(store)
    with pytest.raises(ValueError, match="track must be one of"):
        await service.start(
            service.planned(make_call(uuid.uuid4()), source="OutboundAPI", track="left", folder=tmp_path), b
        )
    assert b.listeners == [] and list(tmp_path.iterdir()) == []


async def test_a_lost_workers_recording_keeps_what_its_file_holds(store, tmp_path):
    account_id = await new_account_id(store)
    call = make_call(account_id)
    service = RecordingService(store, clock=lambda: T0 + timedelta(seconds=5))
    written = service.planned(call, source="StartCallRecordingAPI", folder=tmp_path)
    lost = service.planned(call, source="OutboundAPI", folder=tmp_path / "gone")
    for recording in (written, lost):
        await store.insert_recording(recording)
    # The worker died mid-recording: 1.2 s of audio with the header rewritten, the file never closed.
    out = open(str(written.path), "w+b")  # noqa: SIM115 - left open, as a killed process leaves it
    writer = WavWriter(out)
    writer.write(tone((440.0,), 1.2))
    writer.flush()
    kept = await service.salvage(written)
    assert (kept.status, kept.duration_s, kept.path) == ("completed", 1, written.path)
    assert (await service.media(kept, "wav")) is not None
    gone = await service.salvage(lost)  # its file is not here
    assert (gone.status, gone.path) == ("absent", None)
    stored = {r.id: r.status for r in await service.of_call(account_id, call.id)}
    assert stored == {written.id: "completed", lost.id: "absent"}
    out.close()


class Calls:
    """The calls as the recordings service sees them (`RunningCalls`): a table, and the changes told."""

    def __init__(self, *calls: Call, ends_on_change: bool = False) -> None:
        self.calls = {c.id: c for c in calls}
        self.told: list[tuple[uuid.UUID, str]] = []
        self.ends_on_change = ends_on_change

    async def get(self, account_id: uuid.UUID, call_id: uuid.UUID) -> Call | None:
        call = self.calls.get(call_id)
        return call if call is not None and call.account_id == account_id else None

    async def recordings_changed(self, account_id: uuid.UUID, call_id: uuid.UUID, verb: str = "record"):
        if self.ends_on_change:
            raise InvalidCallState(f"Call is not in-progress. Cannot {verb}.")
        self.told.append((call_id, verb))
        return await self.get(account_id, call_id)


async def live_call(store) -> Call:
    return replace(make_call(await new_account_id(store)), status=CallStatus.IN_PROGRESS)


async def test_start_on_call_stores_the_recording_and_tells_the_call(store, tmp_path):
    call = await live_call(store)
    calls = Calls(call)
    service = RecordingService(store, clock=lambda: T0)
    started = await service.start_on_call(
        calls, call.account_id, call.id, folder=tmp_path, channels="dual", trim="trim-silence",
        status_callback="https://app.example/rec", status_callback_events=("in-progress", "completed"),
    )  # fmt: skip
    assert started is not None
    assert (started.source, started.status, started.channels, started.trim) == (
        "StartCallRecordingAPI", "in-progress", 2, True,
    )  # fmt: skip
    assert started.path == str(tmp_path.resolve() / f"{started.id}.wav")
    stored = await store.get_recording(call.account_id, started.id)
    assert stored is not None and replace(stored, seq=None) == started
    assert calls.told == [(call.id, "record")]


async def test_start_on_call_refuses_a_call_not_in_progress_and_answers_none_for_no_call(store, tmp_path):
    call = await live_call(store)
    service = RecordingService(store)
    ringing = replace(call, status=CallStatus.RINGING)
    with pytest.raises(InvalidCallState, match=r"^Call is not in-progress. Cannot record.$"):
        await service.start_on_call(Calls(ringing), call.account_id, call.id, folder=tmp_path)
    assert await service.start_on_call(Calls(), call.account_id, call.id, folder=tmp_path) is None
    with pytest.raises(InvalidCallState):  # it ended between the check and the news
        await service.start_on_call(
            Calls(call, ends_on_change=True), call.account_id, call.id, folder=tmp_path
        )
    assert await service.of_call(call.account_id, call.id) == []  # nothing left behind


async def test_control_on_call_pauses_resumes_and_stops_the_current_recording(store, tmp_path):
    call = await live_call(store)
    calls = Calls(call)
    service = RecordingService(store, clock=lambda: T0)
    first = await service.start_on_call(calls, call.account_id, call.id, folder=tmp_path)
    second = await service.start_on_call(calls, call.account_id, call.id, folder=tmp_path)
    assert first is not None and second is not None
    paused = await service.control_on_call(calls, call.account_id, call.id, None, "paused", "skip")
    assert paused is not None and (paused.id, paused.status, paused.pause_behavior) == (
        second.id,
        "paused",
        "skip",
    )
    resumed = await service.control_on_call(calls, call.account_id, call.id, first.id, "in-progress", "skip")
    assert resumed is not None and (resumed.id, resumed.status) == (first.id, "in-progress")
    assert calls.told[-2:] == [(call.id, "update the recording")] * 2
    stopped = await service.control_on_call(calls, call.account_id, call.id, first.id, "stopped")
    assert stopped is not None and stopped.status == "stopped"
    with pytest.raises(
        InvalidCallState, match="^The recording is stopped: only a recording in progress can change$"
    ):
        await service.control_on_call(calls, call.account_id, call.id, first.id, "paused")


async def test_control_on_call_refuses_what_it_may_not_change(store, tmp_path):
    call = await live_call(store)
    service = RecordingService(store, clock=lambda: T0)
    verb = service.planned(call, source="RecordVerb", folder=tmp_path)
    await store.insert_recording(verb)
    with pytest.raises(InvalidCallState, match="^A recording made by RecordVerb cannot be paused"):
        await service.control_on_call(Calls(call), call.account_id, call.id, verb.id, "paused")
    # Twilio.CURRENT skips a recording the API may not control; another call's sid is no recording of this one
    assert await service.control_on_call(Calls(call), call.account_id, call.id, None, "paused") is None
    assert (
        await service.control_on_call(Calls(call), call.account_id, uuid.uuid4(), verb.id, "paused") is None
    )
    api = await service.start_on_call(Calls(call), call.account_id, call.id, folder=tmp_path)
    assert api is not None
    ended = replace(call, status=CallStatus.COMPLETED)
    with pytest.raises(InvalidCallState, match=r"^Call is not in-progress. Cannot update the recording.$"):
        await service.control_on_call(Calls(ended), call.account_id, call.id, api.id, "paused")
