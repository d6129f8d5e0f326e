"""<Say> bounds its text and speaks long text a piece at a time."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
import pytest

from callgate.core.notices import Notice, NoticeKind
from callgate.core.verbs import Say
from callgate.engine.verbs import say
from callgate.telephony.aio.tts import PIECE_CHARS

pytestmark = pytest.mark.anyio


@dataclass
class Session:
    """What <Say> uses of the session: speech (each text rendered is kept), play, notify."""

    rendered: list[str] = field(default_factory=list)
    played: list[tuple[int, int]] = field(default_factory=list)  # (samples, loops)
    notes: list[tuple[NoticeKind, str]] = field(default_factory=list)

    async def speak(self, text: str, voice: str | None, language: str | None) -> np.ndarray:
        self.rendered.append(text)
        await asyncio.sleep(0)
        return np.zeros(len(text), dtype=np.int16)

    async def play(self, samples: np.ndarray, loops: int = 1) -> None:
        self.played.append((len(samples), loops))

    async def notify(self, notice: Notice) -> None:
        self.notes.append((notice.kind, notice.detail))


async def test_text_beyond_the_limit_is_cut_and_spoken_in_pieces():
    session = Session()
    text = "Some words to say. " * 3200  # 60 KB, from a text/plain document
    await say.run(session, Say(text=text))  # type: ignore[arg-type]
    (note,) = session.notes
    assert note[0] is NoticeKind.SAY_TOO_LONG and "the limit is 5000" in note[1]
    assert all(len(piece) <= PIECE_CHARS for piece in session.rendered)
    assert 4900 < sum(len(p) + 1 for p in session.rendered) <= 5001
    assert [n for n, _ in session.played] == [len(p) for p in session.rendered], "each piece played in order"


async def test_pieces_repeat_with_the_loop_and_short_text_plays_its_loops_at_once():
    session = Session()
    await say.run(session, Say(text="Hello there. " * 60, loop=2))  # type: ignore[arg-type]
    assert len(session.rendered) == 4 and session.rendered[:2] == session.rendered[2:]
    assert all(loops == 1 for _, loops in session.played)
    short = Session()
    await say.run(short, Say(text="Hello", loop=3))  # type: ignore[arg-type]
    assert short.rendered == ["Hello"] and short.played == [(5, 3)]
