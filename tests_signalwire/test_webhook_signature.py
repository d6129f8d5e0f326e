"""Callgate's SignalWire webhook signatures, checked with the SignalWire SDK's own `RequestValidator`.

`callgate.webhooks.signature` uses the standard library alone, so this suite (which runs in its own
virtual environment, without Callgate installed) imports it from the source tree.
"""

from __future__ import annotations

import json
import sys

from signalwire.request_validator import RequestValidator
from support import ROOT

sys.path.insert(0, str(ROOT / "src"))

from callgate.webhooks.signature import (  # noqa: E402
    SIGNALWIRE_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    signalwire_body_signature,
    signalwire_signature,
    signature_headers,
)

SIGNING_KEY = "PSK_3b9c2f0e6a7d41e58c0f2a6b9d4e7c10"
URL = "https://example.com/laml/voice?app=1"
PARAMS = {
    "AccountSid": "b3877c40-da60-4998-90ad-b792e98472ac",
    "CallSid": "d7a2c2f1-4e0b-4a6e-9d0c-3f5b7e2a1c11",
    "From": "+15005550006",
    "To": "+15005550001",
    "CallStatus": "ringing",
    "SpeechResult": "héllo ☎",
}
validator = RequestValidator(SIGNING_KEY)


def test_compatibility_form_signature_verifies():
    signature = signalwire_signature(URL, PARAMS, SIGNING_KEY)
    assert validator.validate(URL, PARAMS, signature)
    assert not validator.validate(URL, {**PARAMS, "To": "+15005550002"}, signature)
    assert not RequestValidator(SIGNING_KEY + "x").validate(URL, PARAMS, signature)


def test_both_headers_carry_a_value_the_sdk_accepts():
    headers = signature_headers("signalwire", URL, list(PARAMS.items()), SIGNING_KEY)
    assert headers[SIGNALWIRE_SIGNATURE_HEADER] == headers[TWILIO_SIGNATURE_HEADER]
    assert validator.validate(URL, PARAMS, headers[SIGNALWIRE_SIGNATURE_HEADER])


def test_get_signature_is_over_the_url_alone():
    url = URL + "&CallSid=d7a2c2f1&Digits=1+2"
    assert validator.validate(url, {}, signalwire_signature(url, None, SIGNING_KEY))


def test_port_forms_verify():
    signature = signalwire_signature("https://example.com:443/laml", PARAMS, SIGNING_KEY)
    assert validator.validate("https://example.com/laml", PARAMS, signature)
    signature = signalwire_signature("http://example.com:8080/laml", PARAMS, SIGNING_KEY)
    assert validator.validate("http://example.com:8080/laml", PARAMS, signature)


def test_raw_json_body_signature_verifies():
    body = json.dumps({"call": {"call_id": "c1", "state": "created"}, "note": "é"})
    signature = signalwire_body_signature(URL, body, SIGNING_KEY)
    assert validator.validate(URL, body, signature)
    assert validator.validate("https://example.com:443/laml/voice?app=1", body, signature)
    # a mismatch sends the SDK on to parse the body as form parameters, which only a flat object survives
    flat = json.dumps({"call_id": "c1", "state": "created"})
    assert validator.validate(URL, flat, signalwire_body_signature(URL, flat, SIGNING_KEY))
    assert not validator.validate(
        URL, flat.replace("c1", "c2"), signalwire_body_signature(URL, flat, SIGNING_KEY)
    )
