"""Tones: making them (beeps, the fax CNG, DTMF pairs, silence) and hearing them (Goertzel).

All audio here is 8 kHz mono 16-bit (`Samples`). `tone` sums sine waves; `dtmf_tone` plays the two
frequencies of a key (ITU-T Q.23). The Goertzel algorithm measures the power of one frequency in a
block of samples (here as a dot product with a cached basis), which is all DTMF detection needs:
`DtmfDetector` cuts the audio into 205-sample blocks (the classic size: bins 39 Hz wide, so the
DTMF frequencies, 73 Hz apart at the closest, fall in separate bins), asks for one row and one
column frequency that together hold most of the block's energy, within a twist of 8 dB, and
reports a key once it has been heard in two blocks in a row (about 50 ms) and not again until a
block without it. `ToneDetector` does the same for one frequency, for beeps and fax tones.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

RATE = 8000
Samples = npt.NDArray[np.int16]

ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
#: key -> (row frequency, column frequency)
DTMF = {KEYS[r][c]: (ROWS[r], COLUMNS[c]) for r in range(4) for c in range(4)}


def tone(frequencies: tuple[float, ...], seconds: float, *, level: float = 0.25, start: int = 0) -> Samples:
    """Sine waves summed, each at `level` of full scale, for `seconds`. `start` (a sample index)
    continues a tone from where a previous call stopped, without a click."""
    n = int(round(seconds * RATE))
    t = (np.arange(n) + start) / RATE
    wave = np.zeros(n)
    for frequency in frequencies:
        wave += np.sin(2 * math.pi * frequency * t)
    return np.round(wave * level * 32767).astype(np.int16)


def silence(seconds: float) -> Samples:
    return np.zeros(int(round(seconds * RATE)), dtype=np.int16)


def dtmf_tone(key: str, seconds: float = 0.1, *, level: float = 0.25) -> Samples:
    """The two tones of `key` (0-9 * # A-D)."""
    return tone(DTMF[key], seconds, level=level)


@lru_cache(maxsize=32)
def _basis(n: int, frequencies: tuple[float, ...]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    phase = 2 * np.pi * np.outer(np.asarray(frequencies) / RATE, np.arange(n))
    return np.cos(phase), np.sin(phase)


def goertzel(block: npt.NDArray[np.float64], frequencies: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """The power |X(f)|^2 of each frequency in `block`: what the Goertzel recurrence yields, computed
    as two matrix-vector products against a cached cosine/sine basis (one numpy call, not a Python
    loop over the samples)."""
    cos, sin = _basis(len(block), frequencies)
    real, imag = cos @ block, sin @ block
    return real * real + imag * imag


def tone_share(block: npt.NDArray[np.float64], powers: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The share of the block's energy each measured frequency holds (a pure tone: about 1)."""
    energy = float(np.dot(block, block))
    if energy <= 0.0:
        return np.zeros_like(powers)
    return 2 * powers / (len(block) * energy)


class DtmfDetector:
    """In-band DTMF keys from audio, each reported once."""

    BLOCK = 205
    MIN_RMS = 100.0  # about -50 dBm0: quieter blocks are not keys
    MIN_SHARE = 0.7  # the two tones hold at least this share of the block's energy
    MAX_TWIST_DB = 8.0

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)
        self._last: str | None = None  # the key heard in the previous block
        self._reported: str | None = None  # the key reported and still held

    def feed(self, samples: Samples) -> list[str]:
        """Take audio; the keys that became certain in it."""
        self._pending = np.concatenate([self._pending, samples.astype(np.float64)])
        keys: list[str] = []
        while len(self._pending) >= self.BLOCK:
            block, self._pending = self._pending[: self.BLOCK], self._pending[self.BLOCK :]
            key = self._block(block)
            if key is None:
                self._reported = None
            elif key == self._last and key != self._reported:
                keys.append(key)
                self._reported = key
            self._last = key
        return keys

    def _block(self, block: npt.NDArray[np.float64]) -> str | None:
        if math.sqrt(float(np.dot(block, block)) / len(block)) < self.MIN_RMS:
            return None
        shares = tone_share(block, goertzel(block, ROWS + COLUMNS))
        row, column = int(np.argmax(shares[:4])), int(np.argmax(shares[4:]))
        low, high = float(shares[row]), float(shares[4 + column])
        if low + high < self.MIN_SHARE or min(low, high) <= 0.0:
            return None
        if abs(10 * math.log10(high / low)) > self.MAX_TWIST_DB:
            return None
        return KEYS[row][column]


class ToneDetector:
    """One frequency (a 1 kHz beep, the 1100 Hz fax CNG) held for at least `min_seconds`: `feed`
    returns True once, on the block where the tone has lasted that long."""

    BLOCK = 160
    MIN_RMS = 100.0

    def __init__(self, frequency: float, *, min_seconds: float = 0.2, min_share: float = 0.8) -> None:
        self.frequency = frequency
        self._needed = max(1, int(math.ceil(min_seconds * RATE / self.BLOCK)))
        self._min_share = min_share
        self._pending = np.zeros(0, dtype=np.float64)
        self._run = 0
        self.heard = False

    def feed(self, samples: Samples) -> bool:
        self._pending = np.concatenate([self._pending, samples.astype(np.float64)])
        fired = False
        while len(self._pending) >= self.BLOCK:
            block, self._pending = self._pending[: self.BLOCK], self._pending[self.BLOCK :]
            loud = math.sqrt(float(np.dot(block, block)) / len(block)) >= self.MIN_RMS
            share = float(tone_share(block, goertzel(block, (self.frequency,)))[0]) if loud else 0.0
            self._run = self._run + 1 if share >= self._min_share else 0
            if self._run == self._needed:
                fired = True
                self.heard = True
        return fired
