"""espeak-ng as a library from the espeakng-loader wheel: speech with no espeak-ng program installed."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from callgate.telephony.aio.espeak import Espeak, EspeakError


@pytest.fixture(scope="module")
def engine() -> Espeak:
    loaded = Espeak.load()
    assert loaded is not None, "the espeakng-loader wheel is a dependency: its library must load"
    return loaded


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2")


def test_the_library_renders_speech_at_its_rate(engine):
    assert engine.sample_rate == 22050
    speech = samples(engine.synthesize("Hello from Callgate. This is a test.", "en-us+f3"))
    seconds = len(speech) / engine.sample_rate
    assert 1.0 < seconds < 6.0
    assert np.abs(speech).max() > 3000, "it is speech, not silence"
    assert Espeak.load() is engine, "one library state per process"


def test_voices_differ_and_regions_fall_back_to_their_language(engine):
    woman = samples(engine.synthesize("Good morning", "en-us+f3"))
    man = samples(engine.synthesize("Good morning", "en-us+m3"))
    assert not np.array_equal(woman[: len(man)], man[: len(woman)])
    # No voice file is named en-gb or es-es: the language's own voice (en, es) speaks.
    assert len(engine.synthesize("Good morning", "en-gb+m3")) > 0
    assert len(engine.synthesize("Buenos días", "es-es+f3")) > 0


def test_an_unknown_voice_is_an_error_and_the_next_rendering_still_works(engine):
    with pytest.raises(EspeakError, match="no voice xx-yy"):
        engine.synthesize("Hello", "xx-yy+f3")
    assert len(engine.synthesize("Hello", "en-us+f3")) > 0


def test_renderings_from_many_threads_are_whole(engine):
    alone = len(engine.synthesize("One two three", "en-us+m3"))
    results: list[bytes] = []

    def render() -> None:
        results.append(engine.synthesize("One two three", "en-us+m3"))

    threads = [threading.Thread(target=render) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # One at a time: each is a whole rendering, not pieces of several (espeak-ng varies a little).
    assert len(results) == 4
    assert all(abs(len(r) - alone) < alone * 0.05 for r in results), [len(r) for r in results]


def test_a_rendering_stops_when_its_stop_is_set(engine):
    text = "This sentence is long enough to take a while to say. " * 20
    whole = len(engine.synthesize(text, "en-us+f3"))
    stop = threading.Event()
    stop.set()
    partial = engine.synthesize(text, "en-us+f3", stop)
    assert 0 < len(partial) < whole / 10, "it stopped at its first piece of audio"
    assert abs(len(engine.synthesize(text, "en-us+f3")) - whole) < whole * 0.05, "the next one is whole"
