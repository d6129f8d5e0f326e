"""Answering-machine detection on audio made here: espeak-ng speech, tones and silence, fed 20 ms at
a time (the detector counts time in the audio, so these tests need no clock)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from callgate.sandbox.plan import GREETING
from callgate.telephony.aio.tts import Speaker
from callgate.telephony.media.amd import (
    FAX,
    HUMAN,
    MACHINE_END_BEEP,
    MACHINE_END_OTHER,
    MACHINE_END_SILENCE,
    MACHINE_START,
    UNKNOWN,
    AmdSettings,
    MachineDetector,
)
from callgate.telephony.media.tones import silence, tone

HELLO = asyncio.run(Speaker().speak("Hello?"))
MESSAGE = asyncio.run(Speaker().speak(GREETING.text))
BEEP = tone((1000.0,), 1.0)
END_OF_MESSAGE = AmdSettings(detect_message_end=True)


def run(audio: np.ndarray, settings: AmdSettings | None = None, chunk: int = 160) -> tuple[str | None, int]:
    """Feed `audio` as the far end would send it; the result and when (ms of audio) it came."""
    detector = MachineDetector(settings)
    for start in range(0, len(audio), chunk):
        if detector.feed(audio[start : start + chunk]) is not None:
            break
    return detector.result, detector.elapsed_ms


def ms(samples: np.ndarray) -> int:
    return len(samples) * 1000 // 8000


def spoken(samples: np.ndarray) -> tuple[int, int]:
    """When the speech in `samples` starts and ends (ms): its first and last 20 ms frame loud enough
    to be speech (RMS -42 dBFS; espeak-ng fades in and out more quietly than that)."""
    # The last, partial frame too.
    whole = np.concatenate([samples, np.zeros(-len(samples) % 160, dtype=samples.dtype)])
    frames = whole.reshape(-1, 160).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) >= 250)
    return int(loud[0]) * 20, (int(loud[-1]) + 1) * 20


def test_a_short_hello_then_silence_is_a_person():
    result, at = run(np.concatenate([silence(0.3), HELLO, silence(5)]))
    assert result == HUMAN
    # Decided once the hello has been followed by the speech-end threshold of silence.
    assert at == 300 + spoken(HELLO)[1] + 1200


def test_a_long_greeting_is_a_machine_as_soon_as_it_passes_the_speech_threshold():
    assert ms(MESSAGE) > 5000
    result, at = run(np.concatenate([silence(0.5), MESSAGE, silence(5)]))
    assert result == MACHINE_START
    start = 500 + spoken(MESSAGE)[0]
    assert start + 2400 < at <= start + 2400 + 500  # the first sound past the threshold (words pause)


def test_detect_message_end_waits_for_the_beep_to_end():
    audio = np.concatenate([MESSAGE, silence(0.2), BEEP, silence(5)])
    result, at = run(audio, END_OF_MESSAGE)
    assert result == MACHINE_END_BEEP
    beep_end = ms(MESSAGE) + 200 + 1000
    assert beep_end <= at <= beep_end + 60


def test_detect_message_end_without_a_beep_waits_for_silence():
    result, at = run(np.concatenate([MESSAGE, silence(5)]), END_OF_MESSAGE)
    assert result == MACHINE_END_SILENCE
    assert at == spoken(MESSAGE)[1] + 1200


def test_detect_message_end_still_tells_a_person():
    assert run(np.concatenate([HELLO, silence(5)]), END_OF_MESSAGE)[0] == HUMAN


def test_a_fax_calling_tone():
    cng = np.concatenate([tone((1100.0,), 0.5), silence(3.0)] * 3)
    result, at = run(cng)
    assert result == FAX and at <= 400


def test_silence_is_unknown_after_the_silence_timeout():
    assert run(silence(10)) == (UNKNOWN, 5000)
    assert run(silence(10), AmdSettings(silence_timeout_ms=2000)) == (UNKNOWN, 2000)


def test_the_thresholds_are_the_callers():
    # With a speech threshold longer than the greeting, the greeting passes for a person.
    long_threshold = AmdSettings(speech_threshold_ms=ms(MESSAGE) + 1000)
    assert run(np.concatenate([MESSAGE, silence(5)]), long_threshold)[0] == HUMAN
    # A shorter speech-end threshold ends the hello's spell sooner.
    _, default = run(np.concatenate([HELLO, silence(5)]))
    _, short = run(np.concatenate([HELLO, silence(5)]), AmdSettings(speech_end_threshold_ms=500))
    assert default - short == 700


def test_endless_speech_reaches_the_timeout():
    talk = np.concatenate([MESSAGE] * 4)
    settings = AmdSettings(detect_message_end=True, timeout_ms=6000)
    assert run(talk, settings) == (MACHINE_END_OTHER, 6000)


def test_a_hang_up_before_the_end_says_what_is_known():
    detector = MachineDetector(END_OF_MESSAGE)
    detector.feed(MESSAGE[: 8000 * 3])  # three seconds of greeting: a machine, its message not over
    assert detector.result is None
    assert detector.hung_up() == MACHINE_END_OTHER
    quiet = MachineDetector()
    quiet.feed(silence(1))
    assert quiet.hung_up() == UNKNOWN


@pytest.mark.parametrize("chunk", [1, 37, 160, 8000])
def test_any_chunking_gives_the_same_answer(chunk):
    audio = np.concatenate([silence(0.3), HELLO, silence(3)])
    assert run(audio, chunk=chunk) == run(audio)


def test_a_beep_alone_is_not_taken_for_speech_that_ends():
    # A machine that only beeps: a second of tone is a spell of sound under the speech threshold.
    assert run(np.concatenate([BEEP, silence(3)]))[0] == HUMAN


# SignalWire's MachineWordsThreshold: words are voiced segments, here bursts of noise (speech-like: no
# tone for the beep rule to find), cut apart by pauses.
NOISE = np.random.default_rng(18)


def word(ms_long: int) -> np.ndarray:
    return (NOISE.normal(0, 3000, ms_long * 8)).astype(np.int16)


def words(count: int, ms_long: int = 200, pause_ms: int = 140) -> np.ndarray:
    """`count` words, each `ms_long`, `pause_ms` of silence between them."""
    parts: list[np.ndarray] = []
    for i in range(count):
        if i:
            parts.append(silence(pause_ms / 1000))
        parts.append(word(ms_long))
    return np.concatenate(parts)


def test_a_spell_that_reaches_the_words_threshold_is_a_machine_before_the_speech_threshold():
    audio = np.concatenate([silence(0.5), words(3), silence(5)])  # 0.9 s of speech: a person's length
    assert run(audio)[0] == HUMAN  # Twilio's rules: words are not counted
    result, at = run(audio, AmdSettings(words_threshold=3))
    assert result == MACHINE_START
    assert at == 500 + 2 * (200 + 140) + 60  # the third word, once it has lasted a word's minimum
    assert run(audio, AmdSettings(words_threshold=4))[0] == HUMAN  # three words are not four


def test_a_pause_of_one_frame_parts_words_and_a_click_is_no_word():
    detector = MachineDetector(AmdSettings(words_threshold=100))
    detector.feed(np.concatenate([word(100), silence(0.02), word(100), silence(0.1), word(40)]))
    assert detector.words == 2
    detector.feed(word(60))  # a 40 ms click, then a word of its own after no pause: one segment
    assert detector.words == 3


def test_detect_message_end_reports_the_machine_as_an_interim_result_then_the_end_of_its_greeting():
    audio = np.concatenate([words(6), silence(5)])
    detector = MachineDetector(AmdSettings(detect_message_end=True, words_threshold=6))
    for start in range(0, len(audio), 160):
        if detector.feed(audio[start : start + 160]) is not None:
            break
    assert (detector.interim, detector.interim_ms) == (MACHINE_START, 5 * (200 + 140) + 60)
    assert detector.result == MACHINE_END_SILENCE
    assert detector.elapsed_ms == 6 * 200 + 5 * 140 + 1200


def test_a_long_greeting_is_an_interim_machine_once_it_passes_the_speech_threshold():
    detector = MachineDetector(END_OF_MESSAGE)
    detector.feed(MESSAGE[: 8000 * 4])
    assert detector.result is None and detector.interim == MACHINE_START
    start = spoken(MESSAGE)[0]
    assert start + 2400 < detector.interim_ms <= start + 2400 + 500
    assert MachineDetector().interim is None  # nothing heard, nothing to report
