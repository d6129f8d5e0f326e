"""Speech from espeak-ng in bounded pieces, and a cache bounded in bytes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from callgate.telephony.aio.tts import PIECE_CHARS, Speaker, SpeechError, pieces

pytestmark = pytest.mark.anyio


def test_long_text_is_cut_into_pieces_at_sentences_then_words():
    text = " ".join(f"Sentence number {i} says a few words." for i in range(200))
    parts = pieces(text)
    assert all(len(p) <= PIECE_CHARS for p in parts)
    assert all(p.endswith(".") for p in parts), "each piece ends a sentence"
    assert " ".join(parts) == text, "nothing is lost or repeated"
    words = pieces("word " * 1000, size=50)
    assert all(len(p) <= 50 and not p.startswith(" ") and p.count("word") == len(p.split()) for p in words)
    assert " ".join(words) == ("word " * 1000).strip()
    assert pieces("x" * 120, size=50) == ["x" * 50, "x" * 50, "x" * 20]  # no space at all: cut at the size
    assert pieces("  ") == []


async def test_the_cache_is_bounded_in_bytes():
    speaker = Speaker(size=100, max_bytes=1)  # room for one rendering only
    first = await speaker.speak("one")
    assert await speaker.speak("one") is first
    await speaker.speak("two")
    assert await speaker.speak("one") is not first, "dropped to keep the cache within its bytes"


async def test_speech_needs_no_espeak_ng_program(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing to run: the wheel's library speaks
    speech = await Speaker().speak("Hello from Callgate", "alice")
    assert speech.dtype.name == "int16"
    assert 0.8 < len(speech) / 8000 < 4, "about a second and a half of speech at 8 kHz"
    assert abs(speech.astype(int)).max() > 3000
    with pytest.raises(SpeechError, match="program is missing"):
        await Speaker(library=False).speak("Hello from Callgate")


def _voiced(samples: np.ndarray) -> np.ndarray:
    loud = np.nonzero(np.abs(samples.astype(int)) > 50)[0]
    return samples[loud[0] : loud[-1] + 1]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="the espeak-ng program is not installed")
async def test_the_library_and_the_program_say_the_same():
    library = _voiced(await Speaker().speak("Your appointment is at nine", "man"))
    program = _voiced(await Speaker(library=False).speak("Your appointment is at nine", "man"))
    # The same speech; the program only adds silence at the end.
    assert abs(len(library) - len(program)) < 0.05 * len(program)
    # Loudness 20 ms at a time (a rendering may shift by a few samples from one to the next).
    n = min(len(library), len(program)) // 160 * 160
    loudness = [np.abs(s[:n].astype(float)).reshape(-1, 160).mean(axis=1) for s in (library, program)]
    assert np.corrcoef(*loudness)[0, 1] > 0.9


async def test_an_unknown_language_is_spoken_in_english():
    english = await Speaker().speak("Hello there", "woman", "en-US")
    unknown = await Speaker().speak("Hello there", "woman", "xx-YY")
    assert abs(len(english) - len(unknown)) < 0.1 * len(english)
