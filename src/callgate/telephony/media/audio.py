"""Audio in and out of files: WAV reading at any rate and width (to 8 kHz mono 16-bit), resampling,
framing into 20 ms frames, and a WAV writer that keeps its header true as it goes.

Calls carry 8 kHz mono G.711, so everything is converted to that on the way in: channels are
averaged, 8-bit/24-bit/32-bit/float samples scaled to 16 bits, and other rates resampled by a
windowed-sinc low-pass filter (below the new Nyquist frequency, so nothing aliases) followed by
linear interpolation. Files are decoded a block at a time (`decode_audio`, `Resampler`): decoding
holds its 16-bit result and one block, whatever the length of the file. `WavWriter` writes frames as
they come and rewrites the RIFF and data sizes every `flush_every` frames and at close, so a process
that dies mid-call leaves a WAV file that any reader opens, holding all but the last moments.
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO

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


class Resampler:
    """`resample` over a stream: float blocks in, 16-bit blocks out, the same samples as `resample` of
    the whole (to rounding), holding the block and the filter's length, not the whole audio.

    The low-pass filter keeps the last `taps - 1` input samples between blocks (the signal is padded
    with `taps // 2` zeros at each end, as `mode="same"` pads it); the interpolation keeps the last
    filtered sample, so an output position that falls between two blocks comes out as in one piece.
    How many samples the whole makes is known only at the end: `finish` adds or drops the last one.
    """

    def __init__(self, rate: int, new_rate: int = RATE) -> None:
        if rate <= 0:
            raise AudioError(f"audio at {rate} Hz")
        self.rate, self.new_rate = rate, new_rate
        self._step = rate / new_rate
        self._filter = _lowpass(0.5 * new_rate / rate * 0.92) if new_rate < rate else None
        self._pending = np.zeros(0 if self._filter is None else len(self._filter) // 2)
        self._seen = 0  # input samples fed
        self._filtered = 0  # filtered samples made
        self._last: float | None = None  # the last filtered sample
        self._made = 0  # output samples made

    def feed(self, block: npt.NDArray[np.float64]) -> Samples:
        """The output samples that the input so far completes."""
        self._seen += len(block)
        if self.rate == self.new_rate:
            self._made += len(block)
            return to_int16(block)
        if self._filter is None:
            return self._interpolate(block)
        buffer = np.concatenate([self._pending, block])
        if len(buffer) < len(self._filter):
            self._pending = buffer
            return np.zeros(0, dtype=np.int16)
        filtered = np.convolve(buffer, self._filter, mode="valid")
        self._pending = buffer[len(filtered) :]
        return self._interpolate(filtered)

    def finish(self, out: list[Samples]) -> Samples:
        """All the output: the blocks `feed` returned (`out`) and what the end of the input adds."""
        if self.rate != self.new_rate and self._filter is not None:
            buffer = np.concatenate([self._pending, np.zeros(len(self._filter) // 2)])
            if len(buffer) >= len(self._filter):
                out.append(self._interpolate(np.convolve(buffer, self._filter, mode="valid")))
        count = int(round(self._seen / self.rate * self.new_rate))
        if self._made < count and self._last is not None:
            out.append(to_int16(np.full(count - self._made, self._last)))  # past the end: its last value
        whole = np.concatenate(out) if out else np.zeros(0, dtype=np.int16)
        return whole[:count]

    def _interpolate(self, filtered: npt.NDArray[np.float64]) -> Samples:
        first = self._filtered
        self._filtered += len(filtered)
        if len(filtered) == 0:
            return np.zeros(0, dtype=np.int16)
        if self._last is not None:
            filtered, first = np.concatenate([[self._last], filtered]), first - 1
        self._last = float(filtered[-1])
        stop = int((self._filtered - 1) // self._step) + 1  # the positions at or before the last sample
        if stop <= self._made:
            return np.zeros(0, dtype=np.int16)
        positions = np.arange(self._made, stop) * self._step
        self._made = stop
        return to_int16(np.interp(positions, np.arange(first, first + len(filtered)), filtered))


#: frames decoded at a time: what decoding holds besides its result
BLOCK_FRAMES = 1 << 16


def read_wav(data: bytes) -> Samples:
    """A WAV file's audio as 8 kHz mono 16-bit samples (PCM 8/16/24/32-bit and 32-bit float)."""
    return decode_wav(io.BytesIO(data))


def decode_wav(file: IO[bytes]) -> Samples:
    """`read_wav` from a file, a block at a time."""
    try:
        wav = wave.open(file, "rb")
    except (wave.Error, EOFError) as exc:
        if "unknown format: 3" not in str(exc):
            raise AudioError(f"not a WAV file we can read: {exc}") from None
        file.seek(0)
        channels, rate, size = _float_wav(file)
        return _decoded(rate, (_float_pcm(raw, channels) for raw in _blocks(file, size, channels * 4)))
    with wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        if rate <= 0 or channels <= 0:
            raise AudioError(f"WAV with {channels} channels at {rate} Hz")
        if width not in (1, 2, 3, 4):
            raise AudioError(f"WAV samples of {width} bytes")
        return _decoded(rate, (_pcm(raw, width, channels) for raw in _frames_of(wav)))


def _frames_of(wav: wave.Wave_read) -> Iterator[bytes]:
    left = wav.getnframes()
    while left > 0:
        raw = wav.readframes(min(BLOCK_FRAMES, left))
        if not raw:
            return
        left -= BLOCK_FRAMES
        yield raw


def _pcm(raw: bytes, width: int, channels: int) -> npt.NDArray[np.float64]:
    """Integer PCM frames, averaged to mono, on the 16-bit scale."""
    if width == 1:
        pcm = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128) * 256
    elif width == 2:
        pcm = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.float64)
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        pcm = (np.where(value & 0x800000, value - 0x1000000, value) / 256).astype(np.float64)
    else:
        pcm = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<i4").astype(np.float64) / 65536
    return _mono(pcm, channels)


def _float_pcm(raw: bytes, channels: int) -> npt.NDArray[np.float64]:
    return _mono(np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float64) * 32767, channels)


def _mono(pcm: npt.NDArray[np.float64], channels: int) -> npt.NDArray[np.float64]:
    mono: npt.NDArray[np.float64] = pcm[: len(pcm) // channels * channels].reshape(-1, channels).mean(axis=1)
    return mono


def _decoded(rate: int, blocks: Iterable[npt.NDArray[np.float64]]) -> Samples:
    resampler = Resampler(rate)
    out = [resampler.feed(block) for block in blocks]
    return resampler.finish(out)


def read_audio(data: bytes) -> Samples:
    """Any audio file we can decode, as 8 kHz mono 16-bit: WAV here, MP3 (and FLAC, Ogg) through
    libsndfile (the `soundfile` package, whose wheels carry a libsndfile with MP3)."""
    return decode_audio(io.BytesIO(data))


def decode_audio(file: IO[bytes]) -> Samples:
    """`read_audio` from a file (a spooled download), a block at a time: decoding holds the result
    and a block, never the whole file's samples in floating point."""
    head = file.read(4)
    file.seek(0)
    if head == b"RIFF":
        return decode_wav(file)
    import soundfile

    try:
        with soundfile.SoundFile(file) as sound:
            rate = sound.samplerate
            blocks = sound.blocks(blocksize=BLOCK_FRAMES, dtype="float64", always_2d=True)
            return _decoded(rate, (block.mean(axis=1) * 32767 for block in blocks))
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"not audio we can decode: {exc}") from None


def encode_mp3(samples: Samples, rate: int = RATE) -> bytes:
    """MP3 of 16-bit mono samples (for recordings asked for as MP3)."""
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, samples.astype(np.float64) / 32768, rate, format="MP3")
    return out.getvalue()


def _float_wav(file: IO[bytes]) -> tuple[int, int, int]:
    """IEEE-float WAV (format 3), which the stdlib `wave` module refuses: its channels and rate, and the
    size of its data chunk, where `file` is left."""
    header = file.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    fmt = None
    while True:
        head = file.read(8)
        if len(head) < 8:
            raise AudioError("a float WAV needs 32-bit samples, a fmt and a data chunk")
        chunk, size = head[:4], struct.unpack_from("<I", head, 4)[0]
        if chunk == b"data":
            break
        body = file.read(size + (size & 1))
        if chunk == b"fmt " and len(body) >= 16:
            fmt = struct.unpack_from("<HHIIHH", body)
    if fmt is None or fmt[0] != 3 or fmt[5] != 32:
        raise AudioError("a float WAV needs 32-bit samples, a fmt and a data chunk")
    if fmt[1] <= 0 or fmt[2] <= 0:
        raise AudioError(f"WAV with {fmt[1]} channels at {fmt[2]} Hz")
    return fmt[1], fmt[2], size


def _blocks(file: IO[bytes], size: int, frame_bytes: int) -> Iterator[bytes]:
    while size > 0:
        raw = file.read(min(size, BLOCK_FRAMES * frame_bytes))
        if not raw:
            return
        size -= len(raw)
        yield raw


def frames(samples: Samples) -> list[Samples]:
    """20 ms frames, views of `samples` (no copy of a long file); the last one padded with silence."""
    whole = len(samples) // FRAME * FRAME
    out = [samples[i : i + FRAME] for i in range(0, whole, FRAME)]
    if whole < len(samples):
        tail = samples[whole:]
        out.append(np.concatenate([tail, np.zeros(FRAME - len(tail), dtype=np.int16)]))
    return out


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
