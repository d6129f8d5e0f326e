"""<Play>: digits are pressed, audio is fetched (relative to the document) and played its loops; a file
that cannot be fetched or decoded is a warning and the document goes on."""

from __future__ import annotations

import pytest

from callgate.core.notices import NoticeKind
from callgate.core.verbs import Play
from callgate.engine.verbs import play
from callgate.engine.verbs.base import FetchError
from tests.engine.verbs.fake import FakeContext, tone

pytestmark = pytest.mark.anyio


async def test_digits_are_pressed_instead_of_audio():
    ctx = FakeContext()
    assert await play.run(ctx, Play(url="a.wav", digits="12w#")) is None
    assert ctx.done == [("press", "12w#")]


async def test_a_relative_url_is_fetched_against_the_document_and_played_its_loops():
    ctx = FakeContext(files={"https://app.test/a.wav": tone(320)})
    assert await play.run(ctx, Play(url="a.wav", loop=3)) is None
    assert ctx.done == [("audio", "https://app.test/a.wav"), ("play", 320, 3)]


async def test_loop_zero_repeats_up_to_twilios_cap():
    ctx = FakeContext(files={"https://app.test/a.wav": tone()})
    await play.run(ctx, Play(url="https://app.test/a.wav", loop=0))
    assert ctx.done[-1] == ("play", 160, play.MAX_LOOPS)


@pytest.mark.parametrize(
    ("error", "code", "words"),
    [
        (FetchError("HTTP 404"), NoticeKind.AUDIO_FETCH_FAILED, "Play: HTTP 404"),
        (ValueError("not a WAV"), NoticeKind.BAD_AUDIO, "is not audio"),
    ],
)
async def test_a_file_that_cannot_be_played_is_a_warning(error, code, words):
    ctx = FakeContext(files={"https://app.test/a.wav": error})
    assert await play.run(ctx, Play(url="a.wav")) is None
    ((got, message, level),) = ctx.notes
    assert (got, level) == (code, "warning") and words in message
    assert not [d for d in ctx.done if d[0] == "play"]


async def test_no_url_and_no_digits_does_nothing():
    ctx = FakeContext()
    assert await play.run(ctx, Play()) is None
    assert ctx.done == []
