"""kill -9 of `callgate serve` with a call live and its callbacks undelivered: after a restart, the
call is finalised as Twilio reports a call its platform lost (completed, having been answered) and every
callback reaches the application, none lost. The lost calls end when their worker was last known alive
(its heartbeat), so their duration and price leave out the time Callgate was down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from starlette.responses import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from tests.engine.server import Serve
from tests.engine.webapp import WebApp

pytestmark = [pytest.mark.sdk, pytest.mark.slow]

EVENTS = ("initiated", "ringing", "answered", "completed")
EVERY = ("initiated", "ringing", "in-progress", "completed")


@pytest.fixture
def app() -> Iterator[WebApp]:
    web = WebApp().start()
    yield web
    web.stop()


def test_a_crash_loses_no_callback_and_no_call(tmp_path, app):
    server = Serve(f"sqlite:///{tmp_path}/callgate.db", tmp_path, CALLGATE_LEASE_S="2",
                   CALLGATE_WEBHOOK_DELIVERIES="20", CALLGATE_WEBHOOK_RETRY_S="[0.5]")  # fmt: skip
    account = server.create_account()
    app.tokens.add(account["twilio"]["auth_token"])
    up = threading.Event()

    def status(hit):
        return Response("", status_code=204 if up.is_set() else 503)

    app.route("/status", status)
    doc = VoiceResponse()
    doc.pause(length=60)
    server.start()
    try:
        twilio = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
        twilio.api.base_url = server.base_url
        voice = app.route("/voice", str(doc))
        call = twilio.calls.create(to="+14155550100", from_="+14155550199", url=voice,
                                   status_callback=app.url("/status"),
                                   status_callback_event=list(EVENTS))  # fmt: skip
        # The call is up (its document was fetched) and its callbacks are failing: kill -9 now.
        app.wait_for(
            lambda hits: [h for h in hits if h.path == "/status" and h.params["CallStatus"] == "in-progress"]
        )
        app.wait_hits("/voice")
        assert twilio.calls(call.sid).fetch().status == "in-progress"
        server.kill()
        restarted_at = time.monotonic()
        up.set()
        server.start()

        def all_delivered(hits):
            # What the app accepted (204) after the restart, for this call.
            ok = [h for h in hits if h.path == "/status" and h.params["CallSid"] == call.sid
                  and h.at >= restarted_at]  # fmt: skip
            return ok if {h.params["CallStatus"] for h in ok} >= set(EVERY) else None

        delivered = app.wait_for(all_delivered, timeout=60)
        statuses = [h.params["CallStatus"] for h in delivered]
        assert statuses.count("completed") == 1, statuses
        assert all(h.signature_ok for h in delivered)
        fetched = twilio.calls(call.sid).fetch()
        assert fetched.status == "completed"
        assert fetched.end_time is not None and fetched.duration is not None
    finally:
        server.stop()


def test_calls_lost_in_a_crash_end_when_their_worker_was_last_alive(tmp_path, app):
    # CALLGATE_LEASE_S=2: the worker's heartbeat, which records that it is alive, beats every 2/3 s.
    heartbeat_s = 2 / 3
    server = Serve(f"sqlite:///{tmp_path}/callgate.db", tmp_path, CALLGATE_LEASE_S="2",
                   CALLGATE_RATES='{"+1": "0.0140"}')  # fmt: skip
    account = server.create_account()
    app.tokens.add(account["twilio"]["auth_token"])
    app.route("/lost-status", lambda hit: Response("", status_code=204))
    held = VoiceResponse()
    held.pause(length=60)
    app.route("/held", str(held))
    first = VoiceResponse()
    first.pause(length=3)
    first.redirect(app.url("/held"))
    server.start()
    try:
        twilio = Client(account["twilio"]["account_sid"], account["twilio"]["auth_token"])
        twilio.api.base_url = server.base_url
        events = ["ringing", "answered", "completed"]
        callback = {"status_callback": app.url("/lost-status"), "status_callback_event": events}
        # 0130 rings and never answers; 0100 answers.
        ringing = twilio.calls.create(to="+14155550130", from_="+14155550199", twiml=str(held), **callback)
        answered = twilio.calls.create(to="+14155550100", from_="+14155550199",
                                       url=app.route("/first", str(first)), **callback)  # fmt: skip

        def status_of(sid, status):
            return lambda hits: [h for h in hits if h.path == "/lost-status" and h.params["CallSid"] == sid
                                 and h.params["CallStatus"] == status]  # fmt: skip

        app.wait_for(status_of(answered.sid, "in-progress"))
        app.wait_for(status_of(ringing.sid, "ringing"))
        app.wait_hits("/held")  # the answered call has been up 3 s, and goes on: kill -9 now
        killed_at = time.time()
        server.kill()
        time.sleep(6)  # the scenario itself: Callgate stays down a while before it is restarted
        server.start()
        final = app.wait_for(status_of(answered.sid, "completed"), timeout=60)[0]
        fetched = twilio.calls(answered.sid).fetch()
        duration = int(fetched.duration)
        # Up from its answer (StartTime, whole seconds) to the kill: the call ends at the last heartbeat
        # before the kill (cut to the second), never after it, so the downtime is not counted.
        alive_s = killed_at - fetched.start_time.timestamp()
        assert alive_s - heartbeat_s - 2 <= duration <= alive_s, (duration, alive_s)
        assert fetched.status == "completed"
        assert (fetched.end_time - fetched.start_time).total_seconds() == duration
        assert fetched.end_time.timestamp() <= killed_at
        assert fetched.price == "-0.01400", "billed for the minute it was up, not for the downtime"
        assert (final.params["CallDuration"], final.params["Duration"]) == (str(duration), "1")
        # A call still ringing when its worker was lost failed, at the same moment.
        lost = app.wait_for(status_of(ringing.sid, "failed"), timeout=60)[0]
        fetched = twilio.calls(ringing.sid).fetch()
        # It was dialled: its start_time is when it was (Twilio's), before the end.
        assert fetched.status == "failed" and fetched.start_time is not None
        assert fetched.start_time <= fetched.end_time
        assert killed_at - heartbeat_s - 2 <= fetched.end_time.timestamp() <= killed_at
        assert lost.params["CallStatus"] == "failed"
    finally:
        server.stop()
