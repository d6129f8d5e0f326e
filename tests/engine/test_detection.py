"""Detection on a call's stream (engine/detection.py), with a stand-in for the stream: the test
hands the listeners frames itself, as the media clock would, and no time passes."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from callgate.core.call import CallOptions
from callgate.engine.detection import amd_settings, listen
from callgate.telephony.media.amd import MACHINE_END_SILENCE, MACHINE_START, UNKNOWN, AmdSettings
from callgate.telephony.media.tones import silence

pytestmark = pytest.mark.anyio

LOUD = np.random.default_rng(5).normal(0, 3000, 160).astype(np.int16)
QUIET = silence(0.02)


class Stream:
    """What `listen` uses of an RtpStream: its listeners."""

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def hear(self, frame: np.ndarray, count: int = 1) -> None:
        for _ in range(count):
            for listener in list(self.listeners):
                listener(frame, QUIET)


async def test_the_call_ending_first_answers_what_is_known_and_lets_go_of_the_stream():
    stream, hangup, stop = Stream(), asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(listen(AmdSettings(), stream, hangup, stop))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # it listens
    stream.hear(QUIET, 50)  # a second of silence: the silence timeout is 5 s
    stop.set()
    assert await task == (UNKNOWN, 1000)
    assert stream.listeners == []


async def test_the_interim_result_comes_first_then_the_final_one():
    stream, hangup, stop = Stream(), asyncio.Event(), asyncio.Event()
    told: list[tuple[str, int]] = []

    async def interim(answered_by: str, ms: int) -> None:
        told.append((answered_by, ms))

    settings = AmdSettings(detect_message_end=True, words_threshold=2)
    task = asyncio.ensure_future(listen(settings, stream, hangup, stop, interim))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    stream.hear(LOUD, 5)
    stream.hear(QUIET)
    stream.hear(LOUD, 5)  # the second word (counted 60 ms in): a machine, its greeting going on
    for _ in range(3):
        await asyncio.sleep(0)
    assert told == [(MACHINE_START, 180)] and not task.done()
    stream.hear(QUIET, 60)  # the speech-end threshold of silence: the greeting is over
    assert await task == (MACHINE_END_SILENCE, 220 + 1200)
    assert told == [(MACHINE_START, 180)]


def test_settings_come_from_the_options_and_send_digits_turns_detection_off():
    assert amd_settings(CallOptions()) is None
    options = CallOptions(machine_detection="DetectMessageEnd", machine_detection_timeout_s=45,
                          machine_words_threshold=3)  # fmt: skip
    settings = amd_settings(options)
    assert settings is not None and settings.detect_message_end and settings.timeout_ms == 45_000
    assert settings.words_threshold == 3
    assert amd_settings(options.merged(send_digits="1")) is None
