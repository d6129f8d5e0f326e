"""Speech from espeak-ng in bounded pieces, and a cache bounded in bytes."""

from __future__ import annotations

import pytest

from callgate.telephony.aio.tts import PIECE_CHARS, Speaker, pieces

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
