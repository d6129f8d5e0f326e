"""encode_form is urllib's urlencode, byte for byte, for any string pairs."""

from __future__ import annotations

import random
from urllib.parse import quote_plus as urllib_quote_plus
from urllib.parse import urlencode

from callgate.webhooks.form import encode_form, quote_plus


def test_every_character_is_quoted_as_urllib_quotes_it():
    # Every code point of the Basic Multilingual Plane but the surrogates, and some beyond it.
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    chars += ["\U0001f600", "\U0010ffff", "\U00020000"]
    assert [quote_plus(c) for c in chars] == [urllib_quote_plus(c) for c in chars]


def test_random_forms_encode_as_urlencode_does():
    rng = random.Random(20261122)
    alphabet = "aZ09 _.-~+&=%/:;?#@!$'()*,\"<>[]\\^`{|}\t\n\r\x00éø€☎\U0001f600"
    for _ in range(2000):
        pairs = [
            (
                "".join(rng.choices(alphabet, k=rng.randrange(12))),
                "".join(rng.choices(alphabet, k=rng.randrange(40))),
            )
            for _ in range(rng.randrange(6))
        ]
        assert encode_form(pairs) == urlencode(pairs)


def test_the_values_a_callback_carries():
    pairs = [
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("From", "+14155550100"),
        ("To", "sip:alice@example.com;transport=tcp"),
        ("CallbackUrl", "https://app.example.com/status?x=1&y=a b"),
        ("CallerName", "Zoë ☎ O'Brien"),
        ("Empty", ""),
    ]
    assert encode_form(pairs) == urlencode(pairs)
    assert quote_plus("a b+c") == "a+b%2Bc"
