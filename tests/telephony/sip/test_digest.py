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
    assert client.challenged(401, [challenge])
    [(name, first)] = client.headers(method="INVITE", uri="sip:bob@127.0.0.1")
    assert name == "Authorization" and "nc=00000001" in first
    # The same realm challenges again: the password was wrong, give up.
    assert not client.challenged(401, [challenge])
    # Unless the nonce was only stale: answer again, counting on.
    assert client.challenged(401, ['Digest realm="sandbox", nonce="n1", qop="auth", stale=true'])
    [(_, again)] = client.headers(method="INVITE", uri="sip:bob@127.0.0.1")
    assert "nc=00000002" in again


def test_a_proxy_then_the_far_end_both_answered_on_the_last_retry():
    client = DigestClient("alice", "pw", cnonce=lambda: "c0ffee")
    assert client.challenged(407, ['Digest realm="proxy", nonce="p1", qop="auth"'])
    [(name, _)] = client.headers(method="INVITE", uri="sip:bob@example.com")
    assert name == "Proxy-Authorization"
    assert client.challenged(401, ['Digest realm="far", nonce="f1", qop="auth"'])
    headers = client.headers(method="INVITE", uri="sip:bob@example.com")
    assert [(n, re.search(r'realm="(\w+)"', v).group(1)) for n, v in headers] == [
        ("Proxy-Authorization", "proxy"),
        ("Authorization", "far"),
    ]
    # The proxy's nonce is used a second time, so its count moves on (RFC 7616 3.4: no replayed nc).
    assert "nc=00000002" in headers[0][1] and "nc=00000001" in headers[1][1]


def test_of_several_challenges_the_strongest_known_algorithm_is_answered():
    client = DigestClient("alice", "pw", cnonce=lambda: "c0ffee")
    assert client.challenged(
        401,
        [
            'Digest realm="r", nonce="n", algorithm=SHA-1',  # unknown: skipped, not fatal
            'Basic realm="r"',
            'Digest realm="r", nonce="n", algorithm=MD5, qop="auth"',
            'Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"',
        ],
    )
    [(_, value)] = client.headers(method="INVITE", uri="sip:bob@example.com")
    assert "algorithm=SHA-256" in value


def test_nothing_answerable_gives_up():
    client = DigestClient("alice", "pw", cnonce=lambda: "c0ffee")
    assert not client.challenged(401, ['Basic realm="r"', 'Digest realm="r", nonce="n", algorithm=SHA-1'])
    assert not client.challenged(407, [])


def test_auth_int_covers_the_body():
    challenge = Challenge.parse('Digest realm="r", nonce="n", qop="auth-int"')
    kwargs = {"method": "INVITE", "uri": "sip:bob@x", "username": "a", "password": "p", "cnonce": "c"}
    with_sdp = answer(challenge, body=b"v=0\r\n", **kwargs)
    assert "qop=auth-int" in with_sdp
    assert response_of(with_sdp) != response_of(answer(challenge, body=b"", **kwargs))


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
