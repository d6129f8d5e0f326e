"""Every signature is checked with the twilio SDK's own validator (twilio 9.x, `RequestValidator`)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from starlette.datastructures import FormData
from twilio.request_validator import HMAC_SHA256, RequestValidator

from callgate.webhooks.signature import (
    SIGNALWIRE_SIGNATURE_HEADER,
    TWILIO_SIGNATURE_HEADER,
    signalwire_body_signature,
    signalwire_signature,
    signature_headers,
    signing_string,
    twilio_json_signature,
    twilio_signature,
)

TOKEN = "12345abcdef0123456789abcdef01234"
URL = "https://example.com/voice/answer"
CALL = [
    ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
    ("CallSid", "CA0123456789abcdef0123456789abcdef"),
    ("From", "+15005550006"),
    ("To", "+15005550001"),
    ("CallStatus", "ringing"),
    ("Digits", "1234"),
]
validator = RequestValidator(TOKEN)


def test_post_form_verifies_and_binds_url_params_and_token():
    signature = twilio_signature(URL, CALL, TOKEN)
    assert validator.validate(URL, dict(CALL), signature)
    assert not validator.validate(URL + "x", dict(CALL), signature)
    assert not validator.validate(URL, {**dict(CALL), "Digits": "1235"}, signature)
    assert not RequestValidator(TOKEN + "0").validate(URL, dict(CALL), signature)


def test_signed_data_is_url_then_sorted_names_with_values():
    assert (
        signing_string("https://a.test/x", [("b", "2"), ("a", "1"), ("B", "3")]) == "https://a.test/xB3a1b2"
    )
    expected = base64.b64encode(hmac.new(b"k", b"https://a.test/xB3a1b2", hashlib.sha1).digest()).decode()
    assert twilio_signature("https://a.test/x", {"b": "2", "a": "1", "B": "3"}, "k") == expected


def test_get_signs_the_url_with_its_query_alone():
    url = URL + "?CallSid=CA1&Digits=1+2&Caller=sip%3Aalice%40example.com"
    signature = twilio_signature(url, None, TOKEN)
    assert signature == twilio_signature(url, [], TOKEN)
    assert validator.validate(url, {}, signature)
    assert not validator.validate(URL + "?CallSid=CA1", {}, signature)


@pytest.mark.parametrize(
    ("signed", "received"),
    [
        ("https://example.com:8443/voice", "https://example.com:8443/voice"),
        ("https://example.com/voice", "https://example.com:443/voice"),
        ("https://example.com:443/voice", "https://example.com/voice"),
        ("http://example.com/voice?x=1", "http://example.com:80/voice?x=1"),
    ],
)
def test_port_forms_verify(signed, received):
    signature = twilio_signature(signed, CALL, TOKEN)
    assert validator.validate(received, dict(CALL), signature)


def test_other_port_does_not_verify():
    signature = twilio_signature("https://example.com:8443/voice", CALL, TOKEN)
    assert not validator.validate("https://example.com:9443/voice", dict(CALL), signature)


def test_repeated_names_verify_against_a_multidict():
    pairs = [("Digits", "9"), ("To", "+15005550001"), ("Digits", "1"), ("Digits", "5")]
    signature = twilio_signature(URL, pairs, TOKEN)
    assert validator.validate(URL, FormData(pairs), signature)
    assert twilio_signature(URL, {"Digits": ["5", "9", "1"], "To": "+15005550001"}, TOKEN) == signature
    assert not validator.validate(URL, FormData(pairs[:3]), signature)


def test_an_identical_pair_sent_twice_is_signed_once_as_twilio_python_does():
    assert twilio_signature(URL, [("A", "1"), ("A", "1")], TOKEN) == twilio_signature(
        URL, [("A", "1")], TOKEN
    )
    assert validator.validate(
        URL, FormData([("A", "1"), ("A", "1")]), twilio_signature(URL, [("A", "1")], TOKEN)
    )


def test_unicode_values_and_url():
    params = [("Body", "héllo ☎ 日本語 😀"), ("SpeechResult", "Grüße")]
    url = "https://例え.jp/voice?q=%C3%A9"
    signature = twilio_signature(url, params, TOKEN)
    assert validator.validate(url, dict(params), signature)


def test_json_body_is_signed_through_body_sha256():
    body = '{"CallSid": "CA1", "note": "é"}'
    signed_url, signature = twilio_json_signature(URL + "?a=1", body, TOKEN)
    assert signed_url == URL + "?a=1&bodySHA256=" + hashlib.sha256(body.encode()).hexdigest()
    assert validator.validate(signed_url, body, signature)
    assert not validator.validate(signed_url, body.replace("CA1", "CA2"), signature)
    bare_url, bare_signature = twilio_json_signature(URL, body, TOKEN)
    assert bare_url.startswith(URL + "?bodySHA256=")
    assert validator.validate(bare_url, body, bare_signature)


def test_sha256_variant_verifies_with_its_algorithm():
    signature = twilio_signature(URL, CALL, TOKEN, algorithm=HMAC_SHA256)
    assert validator.validate(URL, dict(CALL), signature, algorithm=HMAC_SHA256)
    assert not validator.validate(URL, dict(CALL), signature)
    with pytest.raises(ValueError, match="unsupported signature algorithm 'MD5'"):
        twilio_signature(URL, CALL, TOKEN, algorithm="MD5")


def test_twilio_dialect_sends_one_header():
    headers = signature_headers("twilio", URL, CALL, TOKEN)
    assert list(headers) == [TWILIO_SIGNATURE_HEADER]
    assert validator.validate(URL, dict(CALL), headers[TWILIO_SIGNATURE_HEADER])


def test_signalwire_dialect_sends_its_header_and_twilios_with_one_value():
    headers = signature_headers("signalwire", URL, CALL, TOKEN)
    assert set(headers) == {SIGNALWIRE_SIGNATURE_HEADER, TWILIO_SIGNATURE_HEADER}
    assert headers[SIGNALWIRE_SIGNATURE_HEADER] == headers[TWILIO_SIGNATURE_HEADER]
    assert headers[SIGNALWIRE_SIGNATURE_HEADER] == signalwire_signature(URL, CALL, TOKEN)
    assert validator.validate(URL, dict(CALL), headers[TWILIO_SIGNATURE_HEADER])


def test_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="no webhook signature for dialect 'bandwidth'"):
        signature_headers("bandwidth", URL, CALL, TOKEN)


def test_signalwire_body_signature_is_hex_hmac_of_url_and_body():
    body = '{"call": {"call_id": "c1"}}'
    expected = hmac.new(TOKEN.encode(), (URL + body).encode(), hashlib.sha1).hexdigest()
    assert signalwire_body_signature(URL, body, TOKEN) == expected
