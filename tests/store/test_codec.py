"""The store's codec: what a call's row holds."""

from __future__ import annotations

import json
import uuid

from callgate.core.call import CallOptions
from callgate.store.codec import options_json


def test_the_stored_options_text_is_the_json_of_to_json():
    # The store writes the dataclass through orjson directly; it must be the text of `to_json()`.
    options = CallOptions(
        url="https://example.com/a",
        application_id=uuid.uuid4(),
        status_callback_events=("initiated", "ringing", "completed"),
        recording_status_callback_events=("in-progress", "completed"),
        sip_auth_password="s3cret",
        machine_detection="DetectMessageEnd",
        dialect="signalwire",
    )
    for each in (options, CallOptions()):
        assert options_json(each) == json.dumps(each.to_json(), separators=(",", ":"))
        assert CallOptions.from_json(json.loads(options_json(each))) == each


def test_the_options_text_follows_the_instance_not_a_stale_copy():
    a = CallOptions(url="https://example.com/a")
    b = CallOptions(url="https://example.com/b")
    assert json.loads(options_json(a))["url"] == "https://example.com/a"
    assert json.loads(options_json(b))["url"] == "https://example.com/b"
    assert options_json(a) == options_json(CallOptions(url="https://example.com/a"))
    for n in range(1100):  # more instances than it remembers
        assert json.loads(options_json(CallOptions(timeout_s=n % 600 + 1)))["timeout_s"] == n % 600 + 1


def test_the_text_of_an_instance_seen_is_reused_unless_it_is_long():
    options = CallOptions(url="https://example.com/reused")
    assert options_json(options) is options_json(options)
    long = CallOptions(markup="<Response><Say>" + "a" * 4000 + "</Say></Response>")
    assert options_json(long) == options_json(long) and options_json(long) is not options_json(long)
