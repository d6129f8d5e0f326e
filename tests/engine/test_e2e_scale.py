"""Past one machine: an API-only node and two worker nodes sharing one PostgreSQL database. Every call
is run by exactly one worker, and changes made through the API node reach the worker running the call."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from uuid import UUID

import pytest
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from callgate.store import SqlStore
from tests.conftest import PostgresDatabase, free_port
from tests.engine.server import Serve
from tests.engine.test_e2e_twilio import say_and_hang_up, statuses_in, wait_completed
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow, pytest.mark.postgres]

FROM = "+14155550199"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, WebApp, str, list[Serve]]]:
    db = PostgresDatabase()
    workdir = tmp_path_factory.mktemp("scale")
    sandbox = f"127.0.0.1:{free_port()}"  # one sandbox (the first worker's); the other finds it taken
    env = {"CALLGATE_SANDBOX_SIP": sandbox, "CALLGATE_CALLS_PER_SECOND": "100"}
    api = Serve(db.url, workdir, CALLGATE_WORKER="false", **env)
    workers = [Serve(db.url, workdir, command="worker", **env) for _ in range(2)]
    account = api.create_account()
    app = WebApp().start()
    app.tokens.add(account["twilio"]["auth_token"])
    nodes = [api, *workers]
    try:
        for node in nodes:
            node.start()
        client = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
        client.api.base_url = api.base_url
        yield client, app, db.url, nodes
    finally:
        for node in nodes:
            node.stop()
        app.stop()
        db.drop()


async def initiated_counts(db_url: str, call_ids: list[UUID]) -> dict[UUID, int]:
    store = SqlStore(db_url)
    await store.open()
    try:
        out = {}
        for call_id in call_ids:
            out[call_id] = sum(1 for e in await store.timeline(call_id) if e.name == "CallInitiated")
        return out
    finally:
        await store.close()


def test_every_call_runs_once_on_one_of_the_workers(cluster):
    twilio, app, db_url, nodes = cluster
    sids: list[str] = []
    lock = threading.Lock()

    def create(n: int) -> None:
        call = twilio.calls.create(to="+14155550100", from_=FROM, twiml=say_and_hang_up(f"Call {n}"),
                                   status_callback=app.url("/scale-status"))  # fmt: skip
        with lock:
            sids.append(call.sid)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(sids) == 16
    for sid in sids:
        assert wait_completed(app, "/scale-status", sid).params["CallStatus"] == "completed"
    counts = asyncio.run(initiated_counts(db_url, [UUID(hex=sid[2:]) for sid in sids]))
    assert set(counts.values()) == {1}, "each call was dialled by exactly one worker"
    assert {twilio.calls(sid).fetch().status for sid in sids} == {"completed"}


def test_a_redirect_through_the_api_node_reaches_the_worker(cluster):
    twilio, app, db_url, nodes = cluster
    doc = VoiceResponse()
    doc.pause(length=60)
    call = twilio.calls.create(to="+14155550100", from_=FROM, url=app.route("/scale-long", str(doc)),
                               status_callback=app.url("/scale-redirect"))  # fmt: skip
    app.wait_for(lambda hits: statuses_in(hits, "/scale-long", call.sid))
    app.route("/scale-next", say_and_hang_up("Moved"))
    twilio.calls(call.sid).update(url=app.url("/scale-next"))
    (fetched,) = [h for h in app.wait_hits("/scale-next") if h.params["CallSid"] == call.sid]
    assert fetched.signature_ok
    final = wait_completed(app, "/scale-redirect", call.sid)
    assert final.params["CallStatus"] == "completed" and int(final.params["CallDuration"]) < 30


def test_a_hangup_through_the_api_node_ends_the_call_on_the_worker(cluster):
    twilio, app, db_url, nodes = cluster
    doc = VoiceResponse()
    doc.pause(length=60)
    call = twilio.calls.create(to="+14155550100", from_=FROM, url=app.route("/scale-hangup-doc", str(doc)),
                               status_callback=app.url("/scale-hangup"))  # fmt: skip
    app.wait_for(lambda hits: statuses_in(hits, "/scale-hangup-doc", call.sid))
    assert twilio.calls(call.sid).update(status="completed").status == "completed"
    final = wait_completed(app, "/scale-hangup", call.sid)
    assert final.params["CallStatus"] == "completed"
    assert int(final.params["CallDuration"]) < 30
    # The worker running it saw the change, hung up (BYE) and wrote what only it knows.
    settled = asyncio.run(settled_entry(db_url, UUID(hex=call.sid[2:])))
    assert settled.data == {"by": "api"} and settled.status.value == "completed"


def test_a_recording_started_and_stopped_through_the_api_node_is_made_on_the_worker(cluster):
    twilio, app, db_url, nodes = cluster
    doc = VoiceResponse()
    doc.say("Recorded on whichever worker runs the call", loop=0)
    call = twilio.calls.create(to="+14155550190", from_=FROM, url=app.route("/scale-rec-doc", str(doc)),
                               status_callback=app.url("/scale-rec"))  # fmt: skip
    app.wait_for(lambda hits: statuses_in(hits, "/scale-rec-doc", call.sid))
    started = twilio.calls(call.sid).recordings.create(
        recording_status_callback=app.url("/scale-rec-status"),
        recording_status_callback_event=["in-progress"],
    )
    # The worker saw the new recording (it reports it begun), then sees it stopped.
    app.wait_for(lambda hits: [h for h in hits if h.path == "/scale-rec-status"
                               and h.params["RecordingSid"] == started.sid])  # fmt: skip
    assert twilio.calls(call.sid).recordings(started.sid).update(status="stopped").status == "stopped"
    recording = twilio.calls(call.sid).recordings(started.sid)
    deadline = time.monotonic() + 15
    while (status := recording.fetch().status) == "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the API under a deadline: the worker finishes the file
    assert status == "completed"
    twilio.calls(call.sid).update(status="completed")
    wait_completed(app, "/scale-rec", call.sid)


async def settled_entry(db_url: str, call_id: UUID, deadline_s: float = 15.0):
    store = SqlStore(db_url)
    await store.open()
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while loop.time() < end:
            found = [e for e in await store.timeline(call_id) if e.name == "CallSettled"]
            if found:
                return found[0]
            await asyncio.sleep(0.1)  # polling the database under a deadline
        raise AssertionError("the worker never settled the call it was running")
    finally:
        await store.close()
