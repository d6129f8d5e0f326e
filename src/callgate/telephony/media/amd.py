"""Answering-machine detection: who answered, from the first seconds of what the far end sends.

Sans-IO: `MachineDetector.feed` takes the far end's audio, 20 ms at a time, and counts time in the
audio itself, so a test feeds it synthetic audio and no clock. The rules are the ones Twilio
documents for its parameters (Create Call, "Answering Machine Detection"):

* initial silence longer than `silence_timeout_ms` (MachineDetectionSilenceTimeout): `unknown`;
* a spell of speech, which ends after `speech_end_threshold_ms` of silence
  (MachineDetectionSpeechEndThreshold): longer than `speech_threshold_ms`
  (MachineDetectionSpeechThreshold) is a machine, shorter a person (`human`);
* a fax machine's calling tone (CNG, 1100 Hz, ITU-T T.30): `fax`;
* nothing certain within `timeout_ms` (MachineDetectionTimeout): `unknown`;
* with `words_threshold` (SignalWire's MachineWordsThreshold), a spell that reaches that many words
  is a machine, however short. A word is a voiced segment: at least `WORD_MIN_MS` of speech, ended
  by any pause (a frame below the speech level); the pauses inside a spell are shorter than the
  speech-end threshold.

`Enable` reports a machine at once (`machine_start`). `DetectMessageEnd` waits for the end of its
greeting: the end of a beep (`machine_end_beep`), silence after the speech (`machine_end_silence`),
or the timeout (`machine_end_other`); meanwhile `interim` says `machine_start`, the partial result
(SignalWire's AsyncAmdPartialResults). Speech is told from silence by level (a frame whose RMS
reaches `SPEECH_RMS`, about -42 dBFS); a beep is a frame whose energy sits in one narrow band,
held for `BEEP_MS`, at any frequency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from callgate.telephony.media.tones import RATE, Samples, ToneDetector

FRAME_MS = 20
SPEECH_RMS = 250.0
BEEP_MS = 160  # a tone held this long is a beep, not a vowel
BEEP_SHARE = 0.95  # the share of a frame's energy in its strongest three FFT bins, for a tone
BEEP_MIN_HZ = 400.0  # vowels hold their energy low (voiced speech at 250 Hz reaches 0.9 above)
FAX_CNG_HZ = 1100.0
WORD_MIN_MS = 60  # a shorter voiced segment is a click or a consonant's burst, not a word

HUMAN = "human"
MACHINE_START = "machine_start"
MACHINE_END_BEEP = "machine_end_beep"
MACHINE_END_SILENCE = "machine_end_silence"
MACHINE_END_OTHER = "machine_end_other"
FAX = "fax"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AmdSettings:
    """Twilio's AMD parameters, with its defaults, and SignalWire's word count (None: not counted,
    as on Twilio)."""

    detect_message_end: bool = False
    timeout_ms: int = 30_000
    speech_threshold_ms: int = 2400
    speech_end_threshold_ms: int = 1200
    silence_timeout_ms: int = 5000
    words_threshold: int | None = None


class MachineDetector:
    """Feed the far end's audio from the answer on; `result` is set once it is known."""

    def __init__(self, settings: AmdSettings | None = None) -> None:
        self.settings = settings or AmdSettings()
        self.elapsed_ms = 0
        self.result: str | None = None
        #: the partial result before `result` (`machine_start` while a greeting goes on), and when
        self.interim: str | None = None
        self.interim_ms = 0
        #: the words heard so far (a spell of speech, until it decides)
        self.words = 0
        self._voiced_ms = 0  # how long the current voiced segment has lasted
        self._pending = np.zeros(0, dtype=np.int16)
        self._speech_start: int | None = None  # when the current spell of speech began
        self._last_sound = 0  # when sound was last heard
        self._machine = False  # a machine, its greeting still going (DetectMessageEnd)
        self._tone_ms = 0  # how long the current tone has lasted
        self._tone_bin: int | None = None  # the FFT bin it sits in
        self._beep_heard = False
        self._fax = ToneDetector(FAX_CNG_HZ, min_seconds=0.3)

    @property
    def done(self) -> bool:
        return self.result is not None

    def feed(self, samples: Samples) -> str | None:
        """Take audio (any length); the result if it became known in it, else None."""
        if self.result is not None:
            return None
        self._pending = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        size = RATE * FRAME_MS // 1000
        while self.result is None and len(self._pending) >= size:
            frame, self._pending = self._pending[:size], self._pending[size:]
            self._frame(frame)
        return self.result

    def hung_up(self) -> str:
        """The call ended (either side hung up) before the result was known: what is known by then,
        `unknown` if nothing was decided."""
        if self.result is None:
            self.result = MACHINE_END_OTHER if self._machine else UNKNOWN
        return self.result

    def _frame(self, frame: Samples) -> None:
        self.elapsed_ms += FRAME_MS
        now, s = self.elapsed_ms, self.settings
        if self._fax.feed(frame):
            self.result = FAX
            return
        block = frame.astype(np.float64)
        loud = math.sqrt(float(np.dot(block, block)) / len(block)) >= SPEECH_RMS
        peak = _tone_bin(block) if loud else None
        steady = peak is not None and self._tone_bin is not None and abs(peak - self._tone_bin) <= 1
        self._tone_ms = self._tone_ms + FRAME_MS if steady else (FRAME_MS if peak is not None else 0)
        self._tone_bin = peak
        self._count_words(loud)
        if self._machine:
            self._message_end(now, loud)
        elif self._speech_start is None:
            if loud:
                self._speech_start, self._last_sound = now - FRAME_MS, now
            elif now >= s.silence_timeout_ms:
                self.result = UNKNOWN
        else:
            if loud:
                self._last_sound = now
            many_words = s.words_threshold is not None and self.words >= s.words_threshold
            if self._last_sound - self._speech_start > s.speech_threshold_ms or many_words:
                if s.detect_message_end:
                    self._machine = True
                    self.interim, self.interim_ms = MACHINE_START, now
                else:
                    self.result = MACHINE_START
            elif now - self._last_sound >= s.speech_end_threshold_ms:
                self.result = HUMAN
        if self.result is None and now >= s.timeout_ms:
            self.result = MACHINE_END_OTHER if self._machine else UNKNOWN

    def _count_words(self, loud: bool) -> None:
        """A voiced segment counts as a word once it has lasted `WORD_MIN_MS`; a pause ends it."""
        if not loud:
            self._voiced_ms = 0
            return
        self._voiced_ms += FRAME_MS
        if self._voiced_ms - FRAME_MS < WORD_MIN_MS <= self._voiced_ms:  # counted once, as it reaches it
            self.words += 1

    def _message_end(self, now: int, loud: bool) -> None:
        """A machine's greeting goes on: wait for its beep to end, or for silence."""
        if self._tone_ms >= BEEP_MS:
            self._beep_heard = True
        elif self._beep_heard and self._tone_ms == 0:
            self.result = MACHINE_END_BEEP
            return
        if loud:
            self._last_sound = now
        elif now - self._last_sound >= self.settings.speech_end_threshold_ms:
            self.result = MACHINE_END_SILENCE


def _tone_bin(block: np.ndarray) -> int | None:
    """The FFT bin of a tone, if the frame is one: nearly all its energy in one narrow band (three
    50 Hz bins) at BEEP_MIN_HZ or above. None for speech, noise and silence."""
    spectrum = np.abs(np.fft.rfft(block * np.hanning(len(block)))) ** 2
    total = float(spectrum.sum())
    if total <= 0.0:
        return None
    peak = int(np.argmax(spectrum))
    if peak * RATE / len(block) < BEEP_MIN_HZ:
        return None
    band = float(spectrum[max(0, peak - 1) : peak + 2].sum())
    return peak if band / total >= BEEP_SHARE else None


__all__ = [
    "FAX",
    "HUMAN",
    "MACHINE_END_BEEP",
    "MACHINE_END_OTHER",
    "MACHINE_END_SILENCE",
    "MACHINE_START",
    "UNKNOWN",
    "AmdSettings",
    "MachineDetector",
]
