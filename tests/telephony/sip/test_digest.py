"""Digest answers against the RFCs' own worked examples, and the give-up rule."""

import re

import pytest

from callgate.telephony.sip.digest import Challenge, DigestClient, answer
from callgate.telephony.sip.errors import RemoteProtocolError


def response_of(header: str) -> str:
    return re.search(r'response="([0-9a-f]+)"', header).group(1)


def test_rfc_2617_section_3_5_example():
    challenge = Challenge.parse(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    header = answer(challenge, method="GET", uri="/dir/index.html", username="Mufasa",
                    password="Circle Of Life", cnonce="0a4f113b", nc=1)  # fmt: skip
    assert response_of(header) == "6629fae49393a05397450978507c4ef1"
    assert 'qop=auth, nc=00000001, cnonce="0a4f113b"' in header
    assert 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc_7616_section_3_9_1_examples(algorithm, expected):
    challenge = Challenge.parse(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    header = answer(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc=1,
    )
    assert response_of(header) == expected


def test_without_qop_the_rfc_2069_form():
    challenge = Challenge.parse('Digest realm="sandbox", nonce="abc"')
    header = answer(challenge, method="INVITE", uri="sip:bob@127.0.0.1", username="alice", password="pw",
                    cnonce="x")  # fmt: skip
    assert "qop=" not in header and "nc=" not in header


def test_client_counts_nonces_and_gives_up_after_one_failure():
    client = DigestClient("alice", "pw", cnonce=lambda: "c0ffee")
    challenge = 'Digest realm="sandbox", nonce="n1", qop="auth"'
    first = client.authorize(challenge, method="INVITE", uri="sip:bob@127.0.0.1")
    assert first is not None and "nc=00000001" in first
    # The same realm challenges again: the password was wrong, give up.
    assert client.authorize(challenge, method="INVITE", uri="sip:bob@127.0.0.1") is None
    # Unless the nonce was only stale: answer again, counting on.
    stale = 'Digest realm="sandbox", nonce="n1", qop="auth", stale=true'
    again = client.authorize(stale, method="INVITE", uri="sip:bob@127.0.0.1")
    assert again is not None and "nc=00000002" in again


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('Basic realm="x"', "not a Digest challenge: 'Basic'"),
        ('Digest realm="x"', "Digest challenge without realm or nonce"),
        ('Digest realm="x", nonce="n", algorithm=SHA-1', "unsupported Digest algorithm 'SHA-1'"),
        ('Digest realm="x" nonce', "malformed Digest challenge at 'realm=\"x\" nonce'"),
    ],
)
def test_bad_challenges(value, reason):
    with pytest.raises(RemoteProtocolError) as info:
        Challenge.parse(value)
    assert info.value.reason == reason
