"""The session's document loop on the engine's clock: fetches without media progress are paced on that
clock and bounded, a verb that listened for a second of it is progress. The engine, face and call are
stand-ins for what the session asks of them (the end-to-end tests run the real ones)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from callgate.core.verbs import Document, Gather, Redirect, Verb
from callgate.engine import session as session_module
from callgate.engine.pacing import DOCUMENT_LIMIT_REACHED, MAX_IDLE_DOCUMENTS
from callgate.engine.session import Session
from callgate.engine.shared import FetchedDocument
from callgate.engine.verbs.base import Goto

pytestmark = pytest.mark.anyio

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Engine:
    """Serves one document at every URL, on a clock that moves only when told to."""

    document: Document
    now: datetime = START
    fetched: list[datetime] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.now

    async def fetch_document(self, call: Any, account: Any, face: Any, url: str, method: str, params: Any,
                             *, kind: str) -> FetchedDocument:  # fmt: skip
        self.fetched.append(self.now)
        return FetchedDocument(url, status=200, content_type="text/xml", body=b"<Response/>", error_code=None)

    async def notify(self, call: Any, code: int, message: str, **_: Any) -> None:
        self.notes.append((code, message))

    @property
    def speaker(self) -> Any:
        async def speak(*_: Any) -> Any:
            raise RuntimeError("no speech here")  # the application-error message is skipped

        return SimpleNamespace(speak=speak)


def session_for(engine: Engine) -> Session:
    face = SimpleNamespace(voice_params=lambda call: [], parse=lambda body: engine.document)
    call = SimpleNamespace(options=SimpleNamespace(fallback_url=None))
    return Session(engine, call, account=None, face=face, media=None)  # type: ignore[arg-type]


def clock_sleeps(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> list[float]:
    """Waiting moves the engine's clock instead of the test's time; returns the waits."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        engine.now += timedelta(seconds=seconds)

    monkeypatch.setattr(session_module.asyncio, "sleep", sleep)
    return waits


async def test_a_redirect_loop_is_paced_on_the_engines_clock_and_bounded(monkeypatch):
    engine = Engine(Document((Redirect("http://app.test/loop"),)))
    waits = clock_sleeps(monkeypatch, engine)
    session = session_for(engine)
    await asyncio.wait_for(session.run(Goto("http://app.test/loop", kind="voice")), 10)
    assert len(engine.fetched) == MAX_IDLE_DOCUMENTS
    # Ten at once, then one every 0.1 s of the engine's clock.
    assert waits == [pytest.approx(0.1, abs=1e-5)] * (MAX_IDLE_DOCUMENTS - 10)
    span = (engine.fetched[-1] - engine.fetched[0]).total_seconds()
    assert span == pytest.approx(0.1 * (MAX_IDLE_DOCUMENTS - 10), abs=1e-3)
    ((code, message),) = engine.notes
    assert code == DOCUMENT_LIMIT_REACHED and "50 documents in a row played nothing" in message


async def test_a_verb_that_listened_for_a_second_is_progress(monkeypatch):
    engine = Engine(Document((Gather(timeout_s=1), Redirect("http://app.test/menu"))))
    clock_sleeps(monkeypatch, engine)
    listened = [1.0]

    async def gather(session: Session, verb: Verb) -> None:  # listens for `listened` s of the clock
        engine.now += timedelta(seconds=listened[0])
        if len(engine.fetched) == 2 * MAX_IDLE_DOCUMENTS:
            listened[0] = 0.0  # from here on it ends at once: no progress any more

    real = session_module.runner_for
    monkeypatch.setattr(session_module, "runner_for", lambda v: gather if isinstance(v, Gather) else real(v))
    await asyncio.wait_for(session_for(engine).run(Goto("http://app.test/menu", kind="voice")), 10)
    # A hundred documents that listened, then fifty that did not: the limit counts from the last progress.
    assert len(engine.fetched) == 2 * MAX_IDLE_DOCUMENTS + MAX_IDLE_DOCUMENTS
    assert [code for code, _ in engine.notes] == [DOCUMENT_LIMIT_REACHED]
