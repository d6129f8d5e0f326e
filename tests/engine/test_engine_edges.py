"""The call engine's edges: shutdown, failures, cancellation at every stage, <Dial> races, whispers,
rate limits across accounts, TimeLimit changed through the API.

Unit tests drive `CallRunner`, `Worker` and `<Dial>`'s `first_to_answer` on a real store (the SIP
dialer is the only stand-in: its `leg()` waits, as DNS SRV/A look-ups for a `sip:` URI do). End-to-end
tests run `callgate serve` (tests/engine/server.py) against the sandbox phones and a real web app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from callgate.app import faces_for
from callgate.config import Settings
from callgate.core.call import CallOptions, CreateCall, UpdateCall
from callgate.core.status import CallStatus
from callgate.engine.accounts import create_account
from callgate.engine.children import first_to_answer
from callgate.engine.runner import CallRunner
from callgate.engine.services import Services
from callgate.engine.shared import Engine
from callgate.engine.worker import Worker
from callgate.telephony.aio.leg import DialResult, Outcome
from tests.engine.server import Serve, twilio_user
from tests.engine.webapp import Hit, WebApp

FROM = "+14155550199"


# Unit level: a real store, CallService and RTP stream; a dialer whose routing step waits.


class _Leg:
    """What `Dialer.leg` returns: records whether the INVITE went out."""

    def __init__(self) -> None:
        self.media: Any = None
        self.ringing = asyncio.Event()
        self.remote_hangup = asyncio.Event()
        self.call_id = "review@callgate"
        self.dialed = False

    async def dial(self, timeout_s: float) -> DialResult:
        self.dialed = True
        return DialResult(Outcome.NO_ANSWER, 487, "Request Terminated")

    async def hangup(self) -> int | None:
        return None


class _RoutingDialer:
    """`Dialer.leg` that waits in routing (SRV and A look-ups) until released."""

    def __init__(self) -> None:
        self.routing = asyncio.Event()
        self.release = asyncio.Event()
        self.legs: list[_Leg] = []

    async def leg(self, to: str, **_: Any) -> _Leg:
        self.routing.set()
        await self.release.wait()
        leg = _Leg()
        self.legs.append(leg)
        return leg


def _engine(store: Any, services: Services, dialer: Any, folder: Path) -> Engine:
    return Engine(
        store,
        services.calls,
        faces_for(Settings()),
        dialer,
        None,  # type: ignore[arg-type]  # no HTTP, speech or audio before the answer
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        recordings=services.recordings,
        recordings_dir=folder,
    )


async def _queued_call(services: Services, account_id: Any, to: str = "sip:alice@example.invalid") -> Any:
    options = CallOptions(url="http://127.0.0.1:9/voice")
    return await services.calls.create(account_id, CreateCall(to, FROM, options))


@pytest.mark.anyio
async def test_a_call_canceled_while_its_route_resolves_is_not_dialled(store, tmp_path):
    services = Services.over(store, faces_for(Settings()))
    account = await create_account(store, "review-cancel")
    call = await _queued_call(services, account.id)
    dialer = _RoutingDialer()
    runner = CallRunner(_engine(store, services, dialer, tmp_path), call, account)
    services.calls.listeners.append(lambda c, e: runner.changed(c, e) if c.id == call.id else None)
    task = asyncio.create_task(runner.run())
    await dialer.routing.wait()
    canceled = await services.calls.update(account.id, call.id, UpdateCall(status=CallStatus.CANCELED))
    assert canceled is not None and canceled.status is CallStatus.CANCELED
    dialer.release.set()
    await task
    assert not dialer.legs[0].dialed, "the INVITE of a canceled call went out"


@pytest.mark.anyio
async def test_a_dial_party_aborted_while_its_route_resolves_is_not_dialled(store, tmp_path):
    services = Services.over(store, faces_for(Settings()))
    account = await create_account(store, "review-abort")
    call = await _queued_call(services, account.id)
    dialer = _RoutingDialer()
    runner = CallRunner(_engine(store, services, dialer, tmp_path), call, account)
    connecting = asyncio.create_task(runner.connect(30))
    await dialer.routing.wait()
    runner.abort()
    dialer.release.set()
    assert await connecting is False
    assert not dialer.legs[0].dialed, "the INVITE of an aborted party went out"
    assert runner.call.status is CallStatus.CANCELED


class _Party:
    """A <Dial> party for `first_to_answer`: answers at once, or (late) has its 200 OK in and is
    still writing CallAnswered when the abort comes, as `CallRunner.connect` does after its dial task
    is done (abort() then has nothing to cancel)."""

    def __init__(self, late: bool) -> None:
        self.late = late
        self.aborted = asyncio.Event()
        self.ended: str | None = None

    async def connect(self, timeout_s: int) -> bool:
        if self.late:
            await self.aborted.wait()
        return True

    def abort(self) -> None:
        self.aborted.set()

    async def end(self, by: str | None = None) -> None:
        self.ended = by or "callgate"


@pytest.mark.anyio
async def test_a_second_answer_after_the_winner_is_hung_up():
    first, late = _Party(late=False), _Party(late=True)
    winner = await first_to_answer([first, late], 30)  # type: ignore[list-item]
    assert winner is first
    assert late.ended is not None, "the late answer was left up"


class _ClaimOnly(Worker):
    """The worker's claiming as it is; the claimed calls are not run."""

    async def _run(self, runner: CallRunner) -> None:
        self.engine.running.pop(runner.call.id, None)


async def _backlog(fresh_db_url: str, tmp_path: Path) -> tuple[Any, _ClaimOnly, Any]:
    from callgate.store import SqlStore

    store = SqlStore(fresh_db_url)
    await store.open()
    services = Services.over(store, faces_for(Settings()))
    busy = await create_account(store, "review-busy")
    other = await create_account(store, "review-other")
    for _ in range(5):
        await _queued_call(services, busy.id, "+14155550100")
    waiting = await _queued_call(services, other.id, "+14155550100")
    worker = _ClaimOnly(_engine(store, services, None, tmp_path), cps=1, batch=4, owner="review")
    return store, worker, waiting


@pytest.mark.anyio
async def test_one_accounts_backlog_does_not_hold_back_another_account(fresh_db_url, tmp_path):
    store, worker, waiting = await _backlog(fresh_db_url, tmp_path)
    try:
        await worker.claim()
        claimed = await store.claim_call(waiting.id, "someone-else", worker.engine.clock(), worker._lease())
        assert not claimed, "the other account's call, with a full bucket, was not claimed"
    finally:
        await asyncio.gather(*worker._tasks)
        await store.close()


@pytest.mark.anyio
async def test_a_rate_limited_backlog_does_not_poll_the_store_every_10_ms(fresh_db_url, tmp_path):
    store, worker, _ = await _backlog(fresh_db_url, tmp_path)
    try:
        delay = await worker.claim()
        assert delay >= 0.5, f"polls again in {delay} s with no token due for ~1 s"
    finally:
        await asyncio.gather(*worker._tasks)
        await store.close()


@pytest.mark.anyio
async def test_calls_created_in_this_process_start_without_a_query(fresh_db_url, tmp_path):
    from callgate.store import SqlStore

    store = SqlStore(fresh_db_url)
    await store.open()
    services = Services.over(store, faces_for(Settings()))
    account = await create_account(store, "fresh")
    worker = _ClaimOnly(_engine(store, services, None, tmp_path), cps=2, owner="fresh")
    scans = 0
    scan = store.queued_calls

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal scans
        scans += 1
        return await scan(*args, **kwargs)

    store.queued_calls = counted  # type: ignore[method-assign]
    try:
        first = await _queued_call(services, account.id, "+14155550100")
        await worker.claim()  # the first pass also looks at the store once
        assert scans == 1
        second = await _queued_call(services, account.id, "+14155550100")
        await worker.claim()
        assert scans == 1, "a call made here was started without looking for it"
        for call in (first, second):
            assert not await store.claim_call(call.id, "other", worker.engine.clock(), worker._lease())
        # The account is at its rate now (2 a second): its next call is left for the scan, which
        # comes when a token is due, and finds it then.
        third = await _queued_call(services, account.id, "+14155550100")
        delay = await worker.claim()
        assert 0.0 < delay <= 1.0
        assert (await store.get_call(account.id, third.id)).status is CallStatus.QUEUED
        assert await store.claim_call(third.id, "other", worker.engine.clock(), worker._lease())
    finally:
        await asyncio.gather(*worker._tasks)
        await store.close()


# End to end: `callgate serve` with the sandbox phones and a web app.


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Client, WebApp]]:
    workdir = tmp_path_factory.mktemp("review")
    server = Serve(
        f"sqlite:///{workdir}/callgate.db",
        workdir,
        CALLGATE_RECORDINGS=str(workdir / "rec"),
        CALLGATE_WEBHOOK_RETRY_S="[1.0]",
        CALLGATE_WEBHOOK_DELIVERIES="3",
    )
    with twilio_user(server) as (client, app, _account):
        yield server, client, app


def _status(app: WebApp, path: str, status: str, *, parent: str | None = None, timeout: float = 30) -> Hit:
    def found(hits: list[Hit]) -> list[Hit]:
        return [
            h
            for h in hits
            if h.path == path
            and h.params.get("CallStatus") == status
            and (parent is None or h.params.get("ParentCallSid") == parent)
        ]

    hit: Hit = app.wait_for(found, timeout)[0]
    return hit


def _hang_up(twilio: Client, sid: str) -> None:
    try:
        twilio.calls(sid).update(status="completed")
    except Exception:  # noqa: BLE001  # already over: nothing to clean up
        pass


@pytest.mark.sdk
@pytest.mark.slow
def test_hanging_up_the_dialed_child_through_the_api_ends_the_dial(served):
    server, twilio, app = served
    doc = VoiceResponse()
    dial = Dial(action=app.url("/child-api-action"), time_limit=60)
    dial.number(
        "+14155550190",
        status_callback=app.url("/child-api-status"),
        status_callback_event="answered completed",
    )
    doc.append(dial)
    parent = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/child-api", str(doc)))
    try:
        child = _status(app, "/child-api-status", "in-progress", parent=parent.sid).params["CallSid"]
        assert twilio.calls(child).update(status="completed").status == "completed"
        (action, *_) = app.wait_for(
            lambda hits: [
                h for h in hits if h.path == "/child-api-action" and h.params["CallSid"] == parent.sid
            ],
            timeout=15,
        )
        assert action.params["DialCallStatus"] == "completed"
    finally:
        _hang_up(twilio, parent.sid)


@pytest.mark.sdk
@pytest.mark.slow
def test_a_time_limit_set_through_the_api_ends_the_call(served):
    server, twilio, app = served
    call = twilio.calls.create(
        to="+14155550190",
        from_=FROM,
        twiml='<Response><Pause length="50"/></Response>',
        status_callback=app.url("/tl-status"),
        status_callback_event=["answered", "completed"],
    )
    try:
        _status(app, "/tl-status", "in-progress")
        twilio.calls(call.sid).update(time_limit=2)
        _status(app, "/tl-status", "completed", timeout=15)
    finally:
        _hang_up(twilio, call.sid)


@pytest.mark.sdk
@pytest.mark.slow
def test_a_caller_hanging_up_during_record_still_reaches_the_action(served):
    server, twilio, app = served
    doc = VoiceResponse()
    doc.record(
        action=app.url("/rec-hangup-action"), timeout=0, max_length=30, play_beep=False, trim="do-not-trim"
    )
    # 0160 answers and hangs up 5 s later.
    call = twilio.calls.create(to="+14155550160", from_=FROM, url=app.route("/rec-hangup", str(doc)))
    (action, *_) = app.wait_for(
        lambda hits: [h for h in hits if h.path == "/rec-hangup-action" and h.params["CallSid"] == call.sid],
        timeout=20,
    )
    assert action.params["Digits"] == "hangup"
    assert action.params["RecordingUrl"]


@pytest.mark.sdk
@pytest.mark.slow
def test_a_called_party_hanging_up_during_its_whisper_ends_the_dial(served):
    server, twilio, app = served
    whisper = VoiceResponse()
    whisper.pause(length=7)
    whisper.say("You have a call")
    app.route("/whisper-bye", str(whisper))
    doc = VoiceResponse()
    dial = Dial(action=app.url("/whisper-bye-action"))
    dial.number("+14155550160", url=app.url("/whisper-bye"))  # answers, then BYE 5 s later
    doc.append(dial)
    parent = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/whisper-bye-voice", str(doc)))
    try:
        (action, *_) = app.wait_for(
            lambda hits: [
                h for h in hits if h.path == "/whisper-bye-action" and h.params["CallSid"] == parent.sid
            ],
            timeout=25,
        )
        assert action.params["DialCallStatus"] == "completed"
    finally:
        _hang_up(twilio, parent.sid)


@pytest.mark.sdk
@pytest.mark.slow
def test_the_caller_leaving_during_the_whisper_hangs_up_the_called_party(served):
    server, twilio, app = served
    whisper = VoiceResponse()
    whisper.pause(length=30)
    app.route("/whisper-long", str(whisper))
    doc = VoiceResponse()
    dial = Dial(action=app.url("/whisper-long-action"))
    dial.number(
        "+14155550190",
        url=app.url("/whisper-long"),
        status_callback=app.url("/whisper-long-status"),
        status_callback_event="answered completed",
    )
    doc.append(dial)
    parent = twilio.calls.create(
        to="+14155550190", from_=FROM, url=app.route("/whisper-long-voice", str(doc))
    )
    child = _status(app, "/whisper-long-status", "in-progress", parent=parent.sid).params["CallSid"]
    app.wait_for(lambda hits: [h for h in hits if h.path == "/whisper-long" and h.params["CallSid"] == child])
    _hang_up(twilio, parent.sid)
    try:
        _status(app, "/whisper-long-status", "completed", parent=parent.sid, timeout=10)
    finally:
        _hang_up(twilio, child)


@pytest.fixture(scope="module")
def unwritable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Serve, Client, WebApp, dict]]:
    """`callgate serve` whose recordings folder cannot be made (its parent is a file)."""
    workdir = tmp_path_factory.mktemp("review-rec")
    (workdir / "a-file").write_text("")
    server = Serve(
        f"sqlite:///{workdir}/callgate.db", workdir, CALLGATE_RECORDINGS=str(workdir / "a-file" / "rec")
    )
    account = server.create_account()
    app = WebApp().start()
    app.tokens.add(account["twilio"]["auth_token"])
    server.start()
    client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
    client.api.base_url = server.base_url
    yield server, client, app, account
    server.stop()
    app.stop()


@pytest.mark.sdk
@pytest.mark.slow
def test_a_verb_that_raises_is_reported_in_the_calls_notifications(unwritable):
    server, twilio, app, account = unwritable
    call = twilio.calls.create(
        to="+14155550190",
        from_=FROM,
        twiml='<Response><Record playBeep="false" maxLength="2"/></Response>',
        status_callback=app.url("/raise-status"),
    )
    final = _status(app, "/raise-status", "completed")
    assert final.params["CallSid"] == call.sid
    sid, token = account["twilio"]["account_sid"], account["twilio"]["auth_token"]
    url = f"{server.base_url}/2010-04-01/Accounts/{sid}/Calls/{call.sid}/Notifications.json"
    notes = httpx.get(url, auth=(sid, token), timeout=10).json()["notifications"]
    assert notes, "the call's failure left no notification"


@pytest.mark.sdk
@pytest.mark.slow
def test_a_failure_after_the_answer_still_ends_the_call(unwritable):
    server, twilio, app, account = unwritable
    call = twilio.calls.create(
        to="+14155550190",
        from_=FROM,
        record=True,
        twiml='<Response><Pause length="1"/></Response>',
        status_callback=app.url("/after-answer-status"),
        status_callback_event=["answered", "completed"],
    )
    _status(app, "/after-answer-status", "in-progress")
    try:
        final = app.wait_for(
            lambda hits: [
                h
                for h in hits
                if h.path == "/after-answer-status"
                and h.params["CallSid"] == call.sid
                and h.params["CallStatus"] != "in-progress"
            ],
            timeout=15,
        )
        assert final
    finally:
        _hang_up(twilio, call.sid)


def _one_server(tmp_path: Path, app: WebApp) -> tuple[Serve, Client]:
    server = Serve(
        f"sqlite:///{tmp_path}/callgate.db",
        tmp_path,
        CALLGATE_LEASE_S="2",
        CALLGATE_WEBHOOK_RETRY_S="[0.5]",
        CALLGATE_WEBHOOK_DELIVERIES="20",
    )
    account = server.create_account()
    app.tokens.add(account["twilio"]["auth_token"])
    server.start()
    client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
    client.api.base_url = server.base_url
    return server, client


@pytest.fixture
def web() -> Iterator[WebApp]:
    app = WebApp().start()
    yield app
    app.stop()


@pytest.mark.sdk
@pytest.mark.slow
def test_a_graceful_shutdown_ends_the_calls_it_was_running(tmp_path, web):
    server, twilio = _one_server(tmp_path, web)
    try:
        call = twilio.calls.create(
            to="+14155550190",
            from_=FROM,
            twiml='<Response><Pause length="60"/></Response>',
            status_callback=web.url("/shutdown-status"),
            status_callback_event=["answered", "completed"],
        )
        _status(web, "/shutdown-status", "in-progress")
        server.stop()  # SIGTERM: the lifespan stops the worker and drains the outbox
        server.start()
        final = _status(web, "/shutdown-status", "completed", timeout=15)
        assert final.params["CallSid"] == call.sid
    finally:
        server.stop()


@pytest.mark.sdk
@pytest.mark.slow
def test_a_dead_workers_dial_children_are_finalised_too(tmp_path, web):
    server, twilio = _one_server(tmp_path, web)
    try:
        doc = VoiceResponse()
        dial = Dial()
        dial.number(
            "+14155550190", status_callback=web.url("/lost-child"), status_callback_event="answered completed"
        )
        doc.append(dial)
        parent = twilio.calls.create(
            to="+14155550190",
            from_=FROM,
            url=web.route("/lost-voice", str(doc)),
            status_callback=web.url("/lost-parent"),
        )
        _status(web, "/lost-child", "in-progress", parent=parent.sid)
        server.kill()
        server.start()
        _status(web, "/lost-parent", "completed", timeout=20)
        _status(web, "/lost-child", "completed", parent=parent.sid, timeout=10)
    finally:
        server.stop()
