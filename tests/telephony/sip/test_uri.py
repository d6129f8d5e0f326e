import pytest

from callgate.telephony.sip.errors import RemoteProtocolError
from callgate.telephony.sip.uri import NameAddress, SipUri, TelUri, parse_uri


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@example.com",
        "sip:alice:secretword@example.com;transport=tcp",
        "sips:alice@example.com?subject=project%20x&priority=urgent",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sips:1212@gateway.com",
        "sip:alice@192.0.2.4",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
        "sip:[2001:db8::10]:5070;lr",
        "tel:+1-201-555-0123",
        "tel:7042;phone-context=example.com",
    ],
)
def test_rfc_3261_examples_round_trip(text):
    assert parse_uri(text).serialize() == text


def test_parts():
    uri = SipUri.parse("sip:alice:pw@example.com:5070;transport=TCP;lr?x=1")
    assert (uri.user, uri.password, uri.host, uri.port, uri.transport) == (
        "alice",
        "pw",
        "example.com",
        5070,
        "tcp",
    )
    assert uri.params == {"transport": "TCP", "lr": None} and uri.headers == "x=1"
    assert SipUri.parse("sips:example.com").transport == "tls"
    assert TelUri.parse("tel:+14155550100").number == "+14155550100"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://example.com", "not a sip: or sips: URI: 'http://example.com'"),
        ("sip:", "URI has no host: 'sip:'"),
        ("sip:alice@", "URI has no host: 'sip:alice@'"),
        ("sip:al ice@example.com", "URI has an invalid user part: 'al ice'"),
        ("sip:alice@exa_mple.com", "URI has an invalid host: 'exa_mple.com'"),
        ("sip:alice@[::1", "URI has an unterminated IPv6 reference: '[::1'"),
        ("sip:alice@example.com:0", "URI has an invalid port: '0'"),
        ("sip:alice@example.com;=x", "URI has an invalid parameter: '=x'"),
        ("tel:abc-def-ghij", "tel: URI has an invalid number: 'abc-def-ghij'"),
    ],
)
def test_bad_uris(text, reason):
    with pytest.raises(RemoteProtocolError) as info:
        parse_uri(text)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        (
            '"A. G. Bell" <sip:agb@bell-telephone.com> ;tag=a48s',
            "A. G. Bell",
            "sip:agb@bell-telephone.com",
            {"tag": "a48s"},
        ),
        (
            "Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8",
            "Anonymous",
            "sip:c8oqz84zk7z@privacy.org",
            {"tag": "hyh8"},
        ),
        (
            "sip:+12125551212@server.phone2net.com;tag=887s",
            None,
            "sip:+12125551212@server.phone2net.com",
            {"tag": "887s"},
        ),
        ('"Quoted \\"name\\"" <sips:q@example.com;lr>', 'Quoted "name"', "sips:q@example.com;lr", {}),
        ("<tel:+14155550100>", None, "tel:+14155550100", {}),
    ],
)
def test_name_addr(text, display, uri, params):
    value = NameAddress.parse(text)
    assert (value.display_name, value.uri.serialize(), value.params) == (display, uri, params)
    assert NameAddress.parse(value.serialize()) == value


def test_a_bare_uri_gives_its_params_to_the_header():
    value = NameAddress.parse("sip:alice@example.com;tag=1;transport=tcp")
    assert value.params == {"tag": "1", "transport": "tcp"} and value.uri.params == {}
    with pytest.raises(RemoteProtocolError, match="must be in angle brackets"):
        NameAddress.parse("sip:alice@example.com?x=1")
