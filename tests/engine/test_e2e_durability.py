"""kill -9 of `callgate serve` with a call live and its callbacks undelivered: after a restart, the
call is finalised as Twilio reports a call its platform lost (completed, having been answered) and every
callback reaches the application, none lost."""

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
