"""Recordings: which track, mixed or one a channel, trimmed, and as MP3 beside the WAV."""

import wave

import numpy as np

from callgate.telephony.media.audio import read_audio
from callgate.telephony.media.recorder import Recorder


def frames_of(path):
    with wave.open(str(path)) as w:
        return w.getnchannels(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def feed(recorder, ticks, inbound, outbound):
    for _ in range(ticks):
        recorder(np.full(160, inbound, dtype=np.int16), np.full(160, outbound, dtype=np.int16))


def test_tracks_mono_and_dual(tmp_path):
    for track, expected in (("inbound", 1000), ("outbound", -300), ("both", 700)):
        recorder = Recorder(tmp_path / f"{track}.wav", track=track)
        feed(recorder, 5, 1000, -300)
        assert recorder.close() == 0.1
        channels, data = frames_of(tmp_path / f"{track}.wav")
        assert channels == 1 and (data == expected).all()
    dual = Recorder(tmp_path / "dual.wav", track="both", dual=True)
    feed(dual, 5, 1000, -300)
    dual.close()
    channels, data = frames_of(tmp_path / "dual.wav")
    assert (
        channels == 2
        and (data.reshape(-1, 2)[:, 0] == 1000).all()
        and (data.reshape(-1, 2)[:, 1] == -300).all()
    )


def test_trimmed_and_mp3(tmp_path):
    recorder = Recorder(tmp_path / "r.wav", track="inbound", trim=True, mp3=True)
    feed(recorder, 50, 0, 0)
    feed(recorder, 25, 8000, 0)
    feed(recorder, 50, 0, 0)
    seconds = recorder.close()
    assert seconds == 0.5 + 2 * 0.1  # half a second of sound and the margins
    _, data = frames_of(tmp_path / "r.wav")
    assert len(data) == 5600
    mp3 = read_audio((tmp_path / "r.mp3").read_bytes())
    assert abs(len(mp3) - 5600) < 2400 and np.abs(mp3).max() > 4000
