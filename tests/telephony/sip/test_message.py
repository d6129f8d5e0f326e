"""SIP messages: golden files round-trip byte for byte; malformed ones give the exact reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from callgate.telephony.sip.errors import LocalProtocolError, RemoteProtocolError
from callgate.telephony.sip.headers import CSeq, Via, split_list
from callgate.telephony.sip.message import Request, Response, StreamParser, parse_datagram
from callgate.telephony.sip.uri import SipUri, TelUri

GOOD = sorted((Path(__file__).parent / "data" / "good").glob("*.sip"))


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_golden_messages_round_trip(path):
    data = path.read_bytes()
    assert parse_datagram(data).serialize() == data


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_golden_messages_frame_on_a_stream_in_any_chunks(path):
    data = path.read_bytes()
    stream = b"\r\n\r\n" + data + b"\r\n" + data  # keep-alives before and between
    for size in (1, 7, 64, len(stream)):
        parser = StreamParser()
        messages = []
        for i in range(0, len(stream), size):
            messages += parser.feed(stream[i : i + size])
        assert [m.serialize() for m in messages] == [data, data]


def read(name: str):
    return parse_datagram((Path(__file__).parent / "data" / "good" / name).read_bytes())


def test_typed_views_of_an_invite():
    invite = read("invite_with_sdp.sip")
    assert isinstance(invite, Request) and invite.method == "INVITE"
    uri = invite.request_uri
    assert isinstance(uri, SipUri)
    assert (uri.user, uri.host, uri.port, uri.transport) == ("+14155550100", "127.0.0.1", 5080, "udp")
    assert invite.cseq == CSeq(314159, "INVITE")
    assert invite.vias == [Via("UDP", "127.0.0.1", 5060, {"branch": "z9hG4bK776asdhds", "rport": None})]
    assert invite.from_.display_name == "Callgate" and invite.from_.tag == "1928301774"
    assert invite.to.tag is None
    assert invite.headers.get_all("Allow") == ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"]
    assert invite.body.startswith(b"v=0\r\n") and len(invite.body) == int(invite.headers.get("l"))


def test_lists_across_lines_and_within_a_line():
    ok = read("ok_with_sdp_and_record_route.sip")
    assert isinstance(ok, Response) and (ok.status, ok.reason) == (200, "OK")
    assert ok.headers.get_all("Record-Route") == [
        "<sip:127.0.0.1:5090;lr>",
        "<sip:127.0.0.1:5091;lr;ftag=1928301774>",
    ]
    bye = read("bye_with_routes.sip")
    assert [v.transport for v in bye.vias] == ["TCP", "UDP"]
    assert bye.vias[1].params["received"] == "127.0.0.1"
    assert len(bye.headers.get_all("Route")) == 2


def test_compact_forms_read_as_their_full_names():
    options = read("compact_forms.sip")
    assert options.call_id == "opt-1@127.0.0.1"
    assert options.headers.get("Supported") == "replaces, timer"
    assert options.headers.get_all("k") == ["replaces", "timer"]
    assert options.headers.get("Contact") == "<sip:probe@127.0.0.1:5060>"


def test_auth_header_commas_stay_in_one_value():
    challenge = read("unauthorized.sip")
    values = challenge.headers.get_all("WWW-Authenticate")
    assert len(values) == 1 and 'qop="auth,auth-int"' in values[0]


def test_tel_uris_ipv6_and_bare_name_addr():
    message = read("tel_uri_and_name_addr_without_brackets.sip")
    assert isinstance(message.request_uri, TelUri)
    assert message.request_uri.params == {"phone-context": "example.com"}
    assert message.from_.angle is False and message.from_.tag == "v6tag"
    assert isinstance(message.from_.uri, SipUri) and message.from_.uri.host == "[::1]"
    assert message.to.display_name == "Bob" and message.body == b"Hello, Bob."


def test_folded_headers_unfold():
    data = (
        b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n"
        b"Subject: I know you're there,\r\n  pick up the phone\r\n\tand talk to me!\r\n"
        b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: f1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    )
    message = parse_datagram(data)
    assert message.headers.get("Subject") == "I know you're there, pick up the phone and talk to me!"
    assert b"Subject: I know you're there, pick up the phone and talk to me!\r\n" in message.serialize()


def test_datagram_body_rules():
    base = read("cancel.sip").serialize()
    # RFC 3261 18.3: bytes past Content-Length in a datagram are dropped.
    assert parse_datagram(base + b"garbage").body == b""
    # Without Content-Length, a datagram's body is the rest of it.
    no_length = base.replace(b"Content-Length: 0\r\n", b"")
    assert parse_datagram(no_length + b"x=1").body == b"x=1"


def test_building_a_message():
    request = Request(method="OPTIONS", uri="sip:sandbox@127.0.0.1:5080")
    for name, value in (
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb1"),
        ("From", "<sip:cg@127.0.0.1>;tag=1"),
        ("To", "<sip:sandbox@127.0.0.1:5080>"),
        ("Call-ID", "built-1"),
        ("CSeq", "1 OPTIONS"),
    ):
        request.headers.add(name, value)
    request.body = b"hi"
    request.with_content_length()
    parsed = parse_datagram(request.serialize())
    assert parsed.headers.get("Content-Length") == "2" and parsed.body == b"hi"
    with pytest.raises(LocalProtocolError):
        request.headers.add("Bad Name", "x")
    with pytest.raises(LocalProtocolError):
        request.headers.add("X-Injected", "a\r\nVia: evil")
    with pytest.raises(LocalProtocolError):
        Response(status=99).serialize()


HEAD = (
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
    "To: <sip:b@127.0.0.1>\r\nCall-ID: bad-1\r\nCSeq: 1 OPTIONS\r\n"
)
OPTIONS = "OPTIONS sip:b@127.0.0.1 SIP/2.0\r\n"

BAD = [
    ("no-end-of-headers", OPTIONS + HEAD, "message has no empty line (CRLF CRLF) after its headers"),
    ("version", "OPTIONS sip:b@127.0.0.1 SIP/3.0\r\n" + HEAD + "\r\n", "unsupported SIP version 'SIP/3.0'"),
    (
        "request-line",
        "OPTIONS sip:b@127.0.0.1\r\n" + HEAD + "\r\n",
        "request line must be 'METHOD URI SIP/2.0': 'OPTIONS sip:b@127.0.0.1'",
    ),
    ("method", "OPT@ONS sip:b@127.0.0.1 SIP/2.0\r\n" + HEAD + "\r\n", "invalid method 'OPT@ONS'"),
    ("status", "SIP/2.0 2000 OK\r\n" + HEAD + "\r\n", "invalid status code '2000'"),
    ("status-range", "SIP/2.0 099 Huh\r\n" + HEAD + "\r\n", "invalid status code '099'"),
    ("uri-scheme", "OPTIONS nowhere SIP/2.0\r\n" + HEAD + "\r\n", "Request-URI has no scheme: 'nowhere'"),
    ("uri-host", "OPTIONS sip:b@bad_host SIP/2.0\r\n" + HEAD + "\r\n", "URI has an invalid host: 'bad_host'"),
    (
        "uri-port",
        "OPTIONS sip:b@127.0.0.1:99999 SIP/2.0\r\n" + HEAD + "\r\n",
        "URI has an invalid port: '99999'",
    ),
    ("no-call-id", OPTIONS + HEAD.replace("Call-ID: bad-1\r\n", "") + "\r\n", "missing Call-ID header"),
    ("no-via", OPTIONS + HEAD.split("\r\n", 1)[1] + "\r\n", "missing Via header"),
    (
        "cseq-method",
        OPTIONS + HEAD.replace("1 OPTIONS", "1 INVITE") + "\r\n",
        "CSeq method INVITE does not match the OPTIONS request",
    ),
    (
        "cseq-number",
        OPTIONS + HEAD.replace("CSeq: 1", "CSeq: x") + "\r\n",
        "CSeq has an invalid sequence number: 'x OPTIONS'",
    ),
    (
        "cseq-big",
        OPTIONS + HEAD.replace("CSeq: 1", "CSeq: 2147483648") + "\r\n",
        "CSeq has an invalid sequence number: '2147483648 OPTIONS'",
    ),
    (
        "via-protocol",
        OPTIONS + HEAD.replace("SIP/2.0/UDP", "HTTP/1.1/TCP") + "\r\n",
        "Via has an invalid protocol: 'HTTP/1.1/TCP'",
    ),
    (
        "via-host",
        OPTIONS + HEAD.replace("UDP 127.0.0.1:5060", "UDP :5060") + "\r\n",
        "Via has an invalid host: ''",
    ),
    (
        "header-line",
        OPTIONS + HEAD + "this is not a header\r\n\r\n",
        "malformed header line 'this is not a header'",
    ),
    (
        "length-over",
        OPTIONS + HEAD + "Content-Length: 10\r\n\r\nabc",
        "Content-Length 10 exceeds the 3 body bytes received",
    ),
    ("length-text", OPTIONS + HEAD + "Content-Length: ten\r\n\r\n", "invalid Content-Length 'ten'"),
    (
        "length-twice",
        OPTIONS + HEAD + "Content-Length: 1\r\nl: 2\r\n\r\nab",
        "conflicting Content-Length headers ['1', '2']",
    ),
    (
        "quote",
        OPTIONS + HEAD.replace("From: <sip:a@127.0.0.1>", 'From: "Alice <sip:a@127.0.0.1>') + "\r\n",
        "unterminated quoted display name: '\"Alice <sip:a@127.0.0.1>;tag=1'",
    ),
    (
        "angle",
        OPTIONS + HEAD.replace("To: <sip:b@127.0.0.1>", "To: <sip:b@127.0.0.1") + "\r\n",
        "unterminated <URI>: '<sip:b@127.0.0.1'",
    ),
    ("param", OPTIONS + HEAD.replace(";tag=1", ";tag=") + "\r\n", "header has an invalid parameter: 'tag='"),
    ("nul", OPTIONS + HEAD.replace("bad-1", "bad\x001") + "\r\n", "headers contain a NUL byte"),
]


@pytest.mark.parametrize(("text", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_messages_give_the_exact_reason(text, reason):
    with pytest.raises(RemoteProtocolError) as info:
        parse_datagram(text.encode())
    assert info.value.reason == reason


def test_not_utf8():
    with pytest.raises(RemoteProtocolError, match="headers are not UTF-8"):
        parse_datagram(OPTIONS.encode() + b"Subject: \xff\r\n" + HEAD.encode() + b"\r\n")


def test_stream_needs_content_length_and_bounds():
    with pytest.raises(RemoteProtocolError, match="Content-Length is required on a stream transport"):
        StreamParser().feed((OPTIONS + HEAD + "\r\n").encode())
    with pytest.raises(RemoteProtocolError, match="headers longer than 65536 bytes"):
        StreamParser().feed(b"X" * 70000)
    with pytest.raises(RemoteProtocolError, match="over the 1048576 byte limit"):
        StreamParser().feed((OPTIONS + HEAD + "Content-Length: 99999999\r\n\r\n").encode())
    parser = StreamParser()
    assert parser.feed((OPTIONS + HEAD + "Content-Length: 5\r\n\r\nab").encode()) == []
    (message,) = parser.feed(b"cdeOPT")
    assert message.body == b"abcde"


@pytest.mark.parametrize("digit", ["²", "١"])
def test_non_ascii_digits_are_protocol_errors(digit):
    for text in (
        "SIP/2.0 20" + digit + " OK\r\n" + HEAD + "\r\n",
        OPTIONS + HEAD + "Content-Length: " + digit + "\r\n\r\n",
        OPTIONS + HEAD.replace("CSeq: 1", "CSeq: " + digit) + "\r\n",
        "OPTIONS sip:b@127.0.0.1:" + digit + " SIP/2.0\r\n" + HEAD + "\r\n",
    ):
        with pytest.raises(RemoteProtocolError):
            parse_datagram(text.encode())


def test_a_bare_cr_in_the_headers_is_refused():
    with pytest.raises(RemoteProtocolError, match="bare CR or LF"):
        parse_datagram(("SIP/2.0 200 OK\rInjected\r\n" + HEAD + "\r\n").encode())


def test_stream_returns_the_good_messages_before_reporting_a_broken_one():
    good = (OPTIONS + HEAD + "Content-Length: 0\r\n\r\n").encode()
    parser = StreamParser()
    (message,) = parser.feed(good + b"GARBAGE WITHOUT A SIP LINE\r\n\r\n")
    assert message.call_id == "bad-1"
    with pytest.raises(RemoteProtocolError):
        parser.feed(b"")


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("<sip:a@example.com>", ["<sip:a@example.com>"]),
        ("  ", []),
        ("<sip:a@example.com;lr>, <sip:b@example.com>", ["<sip:a@example.com;lr>", "<sip:b@example.com>"]),
        ("<sip:a@example.com;x=1,2>", ["<sip:a@example.com;x=1,2>"]),
        (
            '"Smith, Al" <sip:al@example.com>, <sip:b@example.com>',
            ['"Smith, Al" <sip:al@example.com>', "<sip:b@example.com>"],
        ),
        ("SIP/2.0/UDP a;branch=z9hG4bK1 , SIP/2.0/UDP b", ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b"]),
    ],
)
def test_list_headers_split_on_commas_outside_quotes_and_brackets(value, items):
    assert split_list(value) == items


def test_an_unterminated_quote_in_a_list_header_is_a_protocol_error():
    with pytest.raises(RemoteProtocolError):
        split_list('"Smith <sip:al@example.com>')
