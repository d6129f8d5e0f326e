"""WAV in (any rate, width, channels) and out (a header that stays true), resampling, trimming."""

import io
import struct
import wave

import numpy as np
import pytest

from callgate.telephony.media import audio
from callgate.telephony.media.audio import (
    AudioError,
    Resampler,
    WavWriter,
    frames,
    read_wav,
    resample,
    to_int16,
    trim_silence,
)
from callgate.telephony.media.tones import goertzel, tone_share


def wav_bytes(samples: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def sine(freq: float, rate: int, seconds: float = 0.5, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return level * np.sin(2 * np.pi * freq * t)


def share_at(samples: np.ndarray, freq: float) -> float:
    block = samples[800:2400].astype(np.float64)
    return float(tone_share(block, goertzel(block, (freq,)))[0])


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_a_tone_keeps_its_pitch_and_length_at_any_rate(rate):
    pcm = (sine(440, rate) * 32767).astype("<i2")
    out = read_wav(wav_bytes(pcm, rate))
    assert len(out) == 4000  # 0.5 s at 8 kHz
    assert share_at(out, 440) > 0.9


def test_what_cannot_be_said_at_8_khz_is_filtered_not_aliased():
    rate = 48000
    pcm = (sine(6000, rate) * 32767).astype("<i2")  # above 4 kHz: would alias to 2 kHz
    out = read_wav(wav_bytes(pcm, rate))
    assert np.abs(out[400:-400]).max() < 0.05 * 32767


def test_widths_and_channels():
    rate = 8000
    mono = sine(500, rate)
    as8 = (mono * 127 + 128).astype(np.uint8)
    assert share_at(read_wav(wav_bytes(as8, rate, width=1)), 500) > 0.9
    as32 = (mono * 2**31 * 0.99).astype("<i4")
    assert share_at(read_wav(wav_bytes(as32, rate, width=4)), 500) > 0.9
    i24 = (mono * 2**23 * 0.99).astype(np.int32)
    as24 = np.stack([i24 & 0xFF, (i24 >> 8) & 0xFF, (i24 >> 16) & 0xFF], axis=1).astype(np.uint8)
    assert share_at(read_wav(wav_bytes(as24.reshape(-1), rate, width=3)), 500) > 0.9
    stereo = np.stack([mono, -mono * 0 + mono], axis=1)
    as_stereo = (stereo * 32767).astype("<i2").reshape(-1)
    out = read_wav(wav_bytes(as_stereo, rate, channels=2))
    assert len(out) == len(mono) and share_at(out, 500) > 0.9


def test_float_wav():
    rate = 16000
    payload = sine(700, rate).astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    riff = struct.pack("<I", 4 + 8 + 16 + 8 + len(payload))
    data = (b"RIFF" + riff + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
            + struct.pack("<I", len(payload)) + payload)  # fmt: skip
    out = read_wav(data)
    assert len(out) == 4000 and share_at(out, 700) > 0.9


def test_not_audio():
    with pytest.raises(AudioError, match="not a WAV file we can read"):
        read_wav(b"ID3\x03 this is an mp3")


def test_the_writer_keeps_a_readable_file_at_every_flush(tmp_path):
    path = tmp_path / "rec.wav"
    writer = WavWriter(path.open("wb"), flush_every=2)
    chunk = np.arange(160, dtype=np.int16)
    for _ in range(5):
        writer.write(chunk)
    # The process "dies" here: no close. The file holds what the last flush counted (4 frames).
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 640)
    writer.close()
    with wave.open(str(path)) as w:
        assert w.getnframes() == 800
        assert np.array_equal(np.frombuffer(w.readframes(800), dtype="<i2")[:160], chunk)


def test_dual_channel_writer(tmp_path):
    path = tmp_path / "dual.wav"
    writer = WavWriter(path.open("wb"), channels=2)
    left, right = np.full(160, 1000, dtype=np.int16), np.full(160, -1000, dtype=np.int16)
    writer.write(np.stack([left, right], axis=1))
    writer.close()
    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(160), dtype="<i2").reshape(-1, 2)
    assert w.getnchannels() == 2 and (data[:, 0] == 1000).all() and (data[:, 1] == -1000).all()


def test_trim_silence_and_frames():
    quiet, loud = np.zeros(8000, dtype=np.int16), np.full(1600, 5000, dtype=np.int16)
    trimmed = trim_silence(np.concatenate([quiet, loud, quiet]), keep=0.1)
    assert len(trimmed) == 1600 + 2 * 800
    assert len(trim_silence(quiet)) == 0
    parts = frames(np.ones(330, dtype=np.int16))
    assert [len(p) for p in parts] == [160, 160, 160] and parts[-1][10:].sum() == 0


def test_trim_silence_keeps_the_silence_between_sounds():
    quiet, loud = np.zeros(8000, dtype=np.int16), np.full(1600, 5000, dtype=np.int16)
    trimmed = trim_silence(np.concatenate([quiet, loud, quiet, loud, quiet]), keep=0.1)
    assert len(trimmed) == 800 + 1600 + 8000 + 1600 + 800  # only the ends go


def test_mp3_in_and_out():
    from callgate.telephony.media.audio import encode_mp3, read_audio

    speechlike = (sine(440, 8000, 1.0) * 32767 * 0.5).astype(np.int16)
    mp3 = encode_mp3(speechlike)
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF  # an MP3 stream
    back = read_audio(mp3)
    assert abs(len(back) - 8000) < 2400  # the encoder pads a frame or two
    assert share_at(back, 440) > 0.8
    wav = read_audio(wav_bytes(speechlike, 8000))
    assert np.array_equal(wav, speechlike)
    with pytest.raises(AudioError, match="not audio we can decode"):
        read_audio(b"<html>not found</html>")


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 6000])
@pytest.mark.parametrize("block", [1, 63, 1000, 1 << 16])
def test_resampling_block_by_block_gives_what_resampling_the_whole_gives(rate, block):
    pcm = np.random.default_rng(rate).normal(0, 8000, 20011)
    whole = to_int16(resample(pcm, rate))
    resampler = Resampler(rate)
    got = resampler.finish([resampler.feed(pcm[i : i + block]) for i in range(0, len(pcm), block)])
    assert len(got) == len(whole)
    assert np.abs(got.astype(np.int32) - whole).max() <= 1  # the sums' order differs: one step of rounding


def test_a_wav_file_is_decoded_from_the_file_a_block_at_a_time(monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 333)
    mono = sine(500, 22050, 1.0)
    stereo = (np.stack([mono, mono], axis=1) * 32767).astype("<i2").reshape(-1)
    out = audio.decode_audio(io.BytesIO(wav_bytes(stereo, 22050, channels=2)))
    assert len(out) == 8000 and share_at(out, 500) > 0.9
