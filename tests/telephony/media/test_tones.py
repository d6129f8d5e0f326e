"""Tones made and heard: every DTMF key through G.711 and noise, beeps, and what is not a key."""

import numpy as np
import pytest

from callgate.telephony.media import g711
from callgate.telephony.media.tones import DTMF, DtmfDetector, ToneDetector, dtmf_tone, silence, tone


def keys_in(audio, chunk=160):
    detector = DtmfDetector()
    found = []
    for i in range(0, len(audio), chunk):  # fed 20 ms at a time, as frames arrive
        found += detector.feed(audio[i : i + chunk])
    return "".join(found)


def pressed(keys: str, on=0.08, off=0.06, level=0.25) -> np.ndarray:
    parts = []
    for key in keys:
        parts += [dtmf_tone(key, on, level=level), silence(off)]
    return np.concatenate(parts)


def test_every_key_is_heard_once():
    assert keys_in(pressed("0123456789*#ABCD")) == "0123456789*#ABCD"


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_keys_survive_g711_and_noise(codec):
    audio = pressed("1234#", level=0.1)
    noise = np.random.default_rng(1).normal(0, 300, len(audio))  # about -40 dBm0 of hiss
    noisy = np.clip(audio + noise, -32768, 32767).astype(np.int16)
    through = g711.decode(g711.encode(noisy, codec), codec)
    assert keys_in(through) == "1234#"


def test_a_key_held_long_is_one_key_and_the_same_key_twice_is_two():
    assert keys_in(np.concatenate([dtmf_tone("5", 0.5), silence(0.1)])) == "5"
    assert keys_in(pressed("55")) == "55"


def test_what_is_not_a_key():
    assert keys_in(tone((1000.0,), 0.5)) == ""  # one tone
    assert keys_in(tone((697.0, 1209.0), 0.02)) == ""  # too short (one block)
    assert keys_in(silence(0.5)) == ""
    assert keys_in(dtmf_tone("1", 0.2, level=0.001)) == ""  # too quiet
    # Twist beyond 8 dB: the column tone 12 dB below the row tone.
    weak_column = tone((697.0,), 0.2, level=0.25) + tone((1209.0,), 0.2, level=0.25 / 4)
    assert keys_in(weak_column) == ""
    speechy = np.random.default_rng(2).normal(0, 3000, 8000).astype(np.int16)  # broadband noise
    assert keys_in(speechy) == ""


def test_the_key_table_is_q23():
    assert DTMF["1"] == (697.0, 1209.0) and DTMF["#"] == (941.0, 1477.0) and DTMF["D"] == (941.0, 1633.0)


def test_a_beep_is_heard_once_after_its_minimum_length():
    detector = ToneDetector(1000.0, min_seconds=0.2)
    audio = np.concatenate([silence(0.3), tone((1000.0,), 0.5), silence(0.3), tone((1000.0,), 0.1)])
    fired_at = [i for i in range(0, len(audio), 160) if detector.feed(audio[i : i + 160])]
    assert len(fired_at) == 1 and detector.heard
    assert fired_at[0] / 8000 == pytest.approx(0.3 + 0.2 - 0.02, abs=0.021)  # on the 10th tone frame
    assert not ToneDetector(1000.0).feed(tone((1100.0,), 0.5))  # the fax tone is not the beep
    assert ToneDetector(1100.0, min_seconds=0.4).feed(tone((1100.0,), 0.5))


def test_tones_continue_without_a_click():
    whole = tone((1000.0,), 0.04)
    halves = np.concatenate([tone((1000.0,), 0.02), tone((1000.0,), 0.02, start=160)])
    assert np.array_equal(whole, halves)
