"""Audio in and out of files: WAV reading at any rate and width (to 8 kHz mono 16-bit), resampling,
framing into 20 ms frames, and a WAV writer that keeps its header true as it goes.

Calls carry 8 kHz mono G.711, so everything is converted to that on the way in: channels are
averaged, 8-bit/24-bit/32-bit/float samples scaled to 16 bits, and other rates resampled by a
windowed-sinc low-pass filter (below the new Nyquist frequency, so nothing aliases) followed by
linear interpolation. `WavWriter` writes frames as they come and rewrites the RIFF and data sizes
every `flush_every` frames and at close, so a process that dies mid-call leaves a WAV file that any
reader opens, holding all but the last moments.
"""

from __future__ import annotations

import io
import struct
import wave
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

RATE = 8000
FRAME = 160  # samples in 20 ms at 8 kHz
Samples = npt.NDArray[np.int16]


class AudioError(ValueError):
    """A file that is not audio we can read; the message says why."""


def _lowpass(cutoff: float, taps: int = 63) -> npt.NDArray[np.float64]:
    """A windowed-sinc low-pass FIR; `cutoff` as a fraction of the sampling rate (0 to 0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.blackman(taps)
    return h / h.sum()  # type: ignore[no-any-return]


def resample(samples: npt.NDArray[np.float64], rate: int, new_rate: int = RATE) -> npt.NDArray[np.float64]:
    """`samples` at `rate` to `new_rate` (float in, float out)."""
    if rate == new_rate or len(samples) == 0:
        return samples
    if new_rate < rate:
        samples = np.convolve(samples, _lowpass(0.5 * new_rate / rate * 0.92), mode="same")
    duration = len(samples) / rate
    count = int(round(duration * new_rate))
    positions = np.arange(count) * (rate / new_rate)
    out: npt.NDArray[np.float64] = np.interp(positions, np.arange(len(samples)), samples)
    return out


def to_int16(samples: npt.NDArray[np.float64]) -> Samples:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def read_wav(data: bytes) -> Samples:
    """A WAV file's audio as 8 kHz mono 16-bit samples (PCM 8/16/24/32-bit and 32-bit float)."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
        floats = False
    except (wave.Error, EOFError) as exc:
        if "unknown format: 3" not in str(exc):
            raise AudioError(f"not a WAV file we can read: {exc}") from None
        channels, width, rate, raw = _float_wav(data)
        floats = True
    if rate <= 0 or channels <= 0:
        raise AudioError(f"WAV with {channels} channels at {rate} Hz")
    if floats:
        pcm = np.frombuffer(raw, dtype="<f4").astype(np.float64) * 32767
    elif width == 1:
        pcm = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) * 256
    elif width == 2:
        pcm = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        pcm = (np.where(value & 0x800000, value - 0x1000000, value) / 256).astype(np.float64)
    elif width == 4:
        pcm = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536
    else:
        raise AudioError(f"WAV samples of {width} bytes")
    pcm = pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1)
    return to_int16(resample(pcm, rate))


def read_audio(data: bytes) -> Samples:
    """Any audio file we can decode, as 8 kHz mono 16-bit: WAV here, MP3 (and FLAC, Ogg) through
    libsndfile (the `soundfile` package, whose wheels carry a libsndfile with MP3)."""
    if data[:4] == b"RIFF":
        return read_wav(data)
    import soundfile

    try:
        decoded, rate = soundfile.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"not audio we can decode: {exc}") from None
    if decoded.size == 0:
        return np.zeros(0, dtype=np.int16)
    return to_int16(resample(decoded.mean(axis=1) * 32767, int(rate)))


def encode_mp3(samples: Samples, rate: int = RATE) -> bytes:
    """MP3 of 16-bit mono samples (for recordings asked for as MP3)."""
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples.astype(np.float64) / 32768, rate, format="MP3")
    return out.getvalue()


def _float_wav(data: bytes) -> tuple[int, int, int, bytes]:
    """IEEE-float WAV (format 3), which the stdlib `wave` module refuses."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8 : pos + 8 + size]
        if chunk == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", body)
        elif chunk == b"data":
            payload = body
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None or fmt[0] != 3 or fmt[5] != 32:
        raise AudioError("a float WAV needs 32-bit samples, a fmt and a data chunk")
    return fmt[1], 4, fmt[2], payload


def frames(samples: Samples) -> list[Samples]:
    """20 ms frames; the last one padded with silence."""
    padded = np.concatenate([samples, np.zeros((-len(samples)) % FRAME, dtype=np.int16)])
    return [padded[i : i + FRAME] for i in range(0, len(padded), FRAME)]


class WavWriter:
    """16-bit PCM WAV written incrementally, `channels` interleaved (2 for dual-channel recordings)."""

    def __init__(self, file: BinaryIO, *, channels: int = 1, rate: int = RATE, flush_every: int = 50) -> None:
        self.file = file
        self.channels = channels
        self.rate = rate
        self.flush_every = flush_every
        self.samples = 0  # per channel
        self._since = 0
        self._header()

    def _header(self) -> None:
        data = self.samples * self.channels * 2
        self.file.seek(0)
        self.file.write(b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE")
        block = self.channels * 2
        self.file.write(
            b"fmt " + struct.pack("<IHHIIHH", 16, 1, self.channels, self.rate, self.rate * block, block, 16)
        )
        self.file.write(b"data" + struct.pack("<I", data))

    def write(self, samples: Samples) -> None:
        """Append samples (shape (n,) for mono, (n, channels) interleaved for more)."""
        self.file.seek(0, io.SEEK_END)
        self.file.write(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self.samples += samples.shape[0]
        self._since += 1
        if self._since >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        self._header()
        self.file.seek(0, io.SEEK_END)
        self.file.flush()
        self._since = 0

    def close(self) -> None:
        self.flush()
        self.file.close()

    @property
    def seconds(self) -> float:
        return self.samples / self.rate


def trim_silence(samples: Samples, *, threshold: int = 300, keep: float = 0.1) -> Samples:
    """Cut leading and trailing silence (20 ms frames whose peak stays under `threshold`), keeping
    `keep` seconds of margin each side."""
    if len(samples) == 0:
        return samples
    chunks = frames(samples)
    loud = [i for i, chunk in enumerate(chunks) if int(np.abs(chunk.astype(np.int32)).max()) >= threshold]
    if not loud:
        return samples[:0]
    margin = int(keep * RATE)
    start = max(0, loud[0] * FRAME - margin)
    end = min(len(samples), (loud[-1] + 1) * FRAME + margin)
    return samples[start:end]
