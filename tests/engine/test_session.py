"""The session's document loop: fetches without media progress are paced on the engine's clock and
bounded, a verb that listened for a second of it is progress; redirects, content types, fallbacks,
parse errors, inline markup, hangups and the API's interrupts. The engine, face and call are
stand-ins for what the session asks of them (the end-to-end tests run the real ones)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from callgate.core.notices import Notice, NoticeKind
from callgate.core.verbs import Document, DocumentError, Gather, Hangup, Play, Redirect, Say, Verb
from callgate.engine import session as session_module
from callgate.engine.pacing import MAX_IDLE_DOCUMENTS
from callgate.engine.session import Inline, Session
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
    notes: list[tuple[NoticeKind, str]] = field(default_factory=list)

    def clock(self) -> datetime:
        return self.now

    async def fetch_document(self, call: Any, account: Any, face: Any, url: str, method: str, params: Any,
                             *, kind: str) -> FetchedDocument:  # fmt: skip
        self.fetched.append(self.now)
        return FetchedDocument(url, status=200, content_type="text/xml", body=b"<Response/>", failure=None)

    async def notify(self, call: Any, notice: Notice) -> None:
        self.notes.append((notice.kind, notice.detail))

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
    assert code is NoticeKind.DOCUMENT_LIMIT_REACHED and "50 documents in a row played nothing" in message


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
    assert [code for code, _ in engine.notes] == [NoticeKind.DOCUMENT_LIMIT_REACHED]


# The document loop against a fake engine that serves each URL its own response.


@dataclass
class Site:
    """Each URL answers (content type, body), or fails with a debugger code; what was asked is kept."""

    pages: dict[str, tuple[str, bytes] | int]
    asked: list[tuple[str, str, list[tuple[str, str]], str]] = field(default_factory=list)
    notes: list[tuple[NoticeKind, str]] = field(default_factory=list)
    now: datetime = START

    def clock(self) -> datetime:
        return self.now

    async def fetch_document(self, call: Any, account: Any, face: Any, url: str, method: str, params: Any,
                             *, kind: str) -> FetchedDocument:  # fmt: skip
        self.asked.append((url, method, list(params), kind))
        page = self.pages[url]
        if isinstance(page, int):
            failed = Notice(NoticeKind.FETCH_FAILED, "HTTP 500", cause=page)
            return FetchedDocument(url, status=500, content_type=None, body=b"", failure=failed)
        content_type, body = page
        return FetchedDocument(url, status=200, content_type=content_type, body=body, failure=None)

    async def notify(self, call: Any, notice: Notice) -> None:
        self.notes.append((notice.kind, notice.detail))

    speaker = Engine.speaker


class Face:
    """Parses `<verb>,<verb>` markup into verbs: h (Hangup), r:URL (Redirect), x (a parse error)."""

    def voice_params(self, call: Any) -> list[tuple[str, str]]:
        return [("CallSid", "CA1"), ("From", "+1")]

    def parse(self, body: str | bytes) -> Document:
        text = body.decode() if isinstance(body, bytes) else body
        verbs: list[Verb] = []
        for word in text.split(","):
            if word == "x":
                raise DocumentError(12100, "Document parse failure")
            verbs.append(Hangup() if word == "h" else Redirect(word[2:]))
        return Document(tuple(verbs))

    def fallback_params(self, params: list[tuple[str, str]], *, error: Notice, error_url: str):
        return [*params, ("ErrorCode", str(error.cause)), ("ErrorUrl", error_url)]


def session_on(site: Site, fallback: str | None = None) -> Session:
    call = SimpleNamespace(options=SimpleNamespace(fallback_url=fallback, fallback_method="POST"))
    return Session(site, call, account=None, face=Face(), media=None)  # type: ignore[arg-type]


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[Verb]:
    """The verbs the session runs, in order (Say and Play are only noted: no media here)."""
    verbs: list[Verb] = []
    real = session_module.runner_for

    def runner_for(verb: Verb) -> Any:
        async def noted(session: Session, verb: Verb) -> Any:
            verbs.append(verb)
            return None if isinstance(verb, Say | Play) else await real(verb)(session, verb)

        return noted

    monkeypatch.setattr(session_module, "runner_for", runner_for)
    return verbs


async def test_a_redirect_is_followed_with_the_calls_parameters_and_a_hangup_ends_it(ran):
    site = Site({"http://app.test/a": ("text/xml", b"r:b"), "http://app.test/b": ("application/xml", b"h")})
    session = session_on(site)
    assert await session.run_for_hangup(Goto("http://app.test/a", kind="voice")) is True
    assert [(url, kind) for url, _, _, kind in site.asked] == [("http://app.test/a", "voice"),
                                                               ("http://app.test/b", "redirect")]  # fmt: skip
    assert site.asked[1][2] == [("CallSid", "CA1"), ("From", "+1")]
    assert ran == [Redirect("b"), Hangup()]
    assert session.document_url == "http://app.test/b"


async def test_a_verbs_own_parameters_replace_the_calls_of_the_same_name(ran):
    site = Site({"http://app.test/a": ("text/xml", b"h")})
    await session_on(site).run(Goto("http://app.test/a", params=(("From", "+2"), ("Digits", "1"))))
    assert site.asked[0][2] == [("CallSid", "CA1"), ("From", "+2"), ("Digits", "1")]


async def test_a_document_that_runs_to_its_end_does_not_hang_up(ran):
    site = Site({"http://app.test/a": ("text/plain", b"Hello there")})
    assert await session_on(site).run_for_hangup(Goto("http://app.test/a")) is False
    assert ran == [Say("Hello there")], "a text/plain document is spoken"


async def test_an_audio_document_is_played(ran):
    site = Site({"http://app.test/a.mp3": ("audio/mpeg", b"ID3")})
    await session_on(site).run(Goto("http://app.test/a.mp3"))
    assert ran == [Play("http://app.test/a.mp3")]


async def test_a_wrong_content_type_is_12300_and_the_call_ends(ran):
    site = Site({"http://app.test/a": ("application/json", b"{}")})
    session = session_on(site)
    assert await session.run_for_hangup(Goto("http://app.test/a", kind="voice")) is True
    assert site.notes == [(NoticeKind.INVALID_CONTENT_TYPE, "Invalid Content-Type: application/json")]
    assert ran == []


async def test_a_failed_fetch_goes_to_the_fallback_with_the_error(ran):
    site = Site({"http://app.test/a": 11200, "http://app.test/fallback": ("text/xml", b"h")})
    session = session_on(site, fallback="http://app.test/fallback")
    assert await session.run_for_hangup(Goto("http://app.test/a", kind="voice")) is True
    url, method, params, kind = site.asked[1]
    assert (url, kind) == ("http://app.test/fallback", "fallback")
    assert ("ErrorCode", "11200") in params and ("ErrorUrl", "http://app.test/a") in params


async def test_a_parse_error_reports_its_code_and_ends_the_call(ran):
    site = Site({"http://app.test/a": ("text/xml", b"x")})
    assert await session_on(site).run_for_hangup(Goto("http://app.test/a", kind="voice")) is True
    assert site.notes == [(NoticeKind.DOCUMENT, "Document parse failure")]


async def test_inline_markup_runs_without_a_url(ran):
    site = Site({"http://app.test/b": ("text/xml", b"h")})
    session = session_on(site)
    await session.run(Inline("r:http://app.test/b"))
    assert ran == [Redirect("http://app.test/b"), Hangup()]


async def test_once_the_far_end_hung_up_only_an_action_is_still_requested(ran):
    site = Site({"http://app.test/act": ("text/xml", b"h"), "http://app.test/voice": ("text/xml", b"h")})
    session = session_on(site)
    session.hung_up.set()
    await session.run(Goto("http://app.test/voice", kind="voice"))
    await session.run(Goto("http://app.test/act", kind="action"))
    assert [url for url, *_ in site.asked] == ["http://app.test/act"]
    assert ran == [], "what an action returns after a hangup is not run"


async def test_an_interrupt_stops_the_running_verb_and_runs_the_new_document(monkeypatch, ran):
    site = Site({"http://app.test/a": ("text/xml", b"h"), "http://app.test/new": ("text/xml", b"h")})
    session = session_on(site)
    started = asyncio.Event()
    real = session_module.runner_for

    def runner_for(verb: Verb) -> Any:
        async def forever(session: Session, verb: Verb) -> None:
            started.set()
            await asyncio.Future()

        return forever if site.asked[-1][0] == "http://app.test/a" else real(verb)

    monkeypatch.setattr(session_module, "runner_for", runner_for)
    running = asyncio.ensure_future(session.run(Goto("http://app.test/a", kind="voice")))
    await started.wait()
    session.interrupt(Goto("http://app.test/new", kind="api"))
    await asyncio.wait_for(running, 5)
    assert [(url, kind) for url, _, _, kind in site.asked] == [("http://app.test/a", "voice"),
                                                               ("http://app.test/new", "api")]  # fmt: skip
    assert ran == [Hangup()], "the new document ran"


async def test_a_dial_without_child_calls_fails_loudly():
    session = session_on(Site({}))
    with pytest.raises(RuntimeError, match="cannot place child calls"):
        session.children  # noqa: B018
