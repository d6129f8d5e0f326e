import pytest

from callgate.telephony.routing import Route, Trunk, Unroutable, route

SANDBOX = ("127.0.0.1", 5080)
TRUNKS = (
    Trunk("world", "sip:sip.carrier.example;transport=tcp", prefixes=("+",), username="acme", password="pw"),
    Trunk("uk", "sip:uk.carrier.example:5070", prefixes=("+44",)),
)


def test_sip_uris_go_direct():
    assert route("sip:bob@127.0.0.1:5070", TRUNKS, SANDBOX) == Route(
        "sip:bob@127.0.0.1:5070", "127.0.0.1", 5070, "udp"
    )
    v6 = route("sip:bob@[::1];transport=tcp", (), SANDBOX)
    assert (v6.host, v6.port, v6.transport) == ("::1", 5060, "tcp")
    tls = route("sips:bob@example.com", (), SANDBOX)
    assert (tls.host, tls.port, tls.transport) == ("example.com", 5061, "tls")


def test_numbers_take_the_longest_matching_trunk_prefix():
    uk = route("+442071838750", TRUNKS, SANDBOX)
    assert (uk.trunk, uk.request_uri, uk.host, uk.port, uk.transport) == (
        "uk",
        "sip:+442071838750@uk.carrier.example:5070",
        "uk.carrier.example",
        5070,
        "udp",
    )
    us = route("+14155550100", TRUNKS, SANDBOX)
    assert (us.trunk, us.transport, us.port, us.credentials) == ("world", "tcp", 5060, ("acme", "pw"))


def test_without_a_trunk_numbers_go_to_the_sandbox():
    assert route("+14155550100", (), SANDBOX) == Route(
        "sip:+14155550100@127.0.0.1:5080", "127.0.0.1", 5080, "udp"
    )
    only_uk = (TRUNKS[1],)
    assert route("+14155550100", only_uk, SANDBOX).trunk is None


@pytest.mark.parametrize("target", ["client:alice", "sip:", "4155550100"])
def test_unroutable(target):
    with pytest.raises(Unroutable):
        route(target, TRUNKS, SANDBOX)
