import pytest

from callgate.telephony.routing import Route, Trunk, Unroutable, byoc_trunk, route

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


BYOC = Trunk("byoc", "sip:byoc.carrier.example:5090", prefixes=("+999",), sid="BY" + "e" * 32,
             accounts=frozenset({"acct-1"}))  # fmt: skip


def test_a_byoc_trunk_carries_a_number_whatever_its_prefixes():
    found = route("+442071838750", (*TRUNKS, BYOC), SANDBOX, byoc=BYOC)
    assert (found.trunk, found.request_uri) == ("byoc", "sip:+442071838750@byoc.carrier.example:5090")
    # SIP URIs go direct even then: the seed says Byoc only routes phone numbers.
    assert route("sip:bob@127.0.0.1:5070", (BYOC,), SANDBOX, byoc=BYOC).trunk is None


def test_a_byoc_sid_names_a_trunk_only_for_its_accounts():
    trunks = (*TRUNKS, BYOC)
    assert byoc_trunk(trunks, "BY" + "E" * 32, "acct-1") is BYOC  # sids in any case
    assert byoc_trunk(trunks, "BY" + "e" * 32, "acct-2") is None
    assert byoc_trunk(trunks, "BY" + "f" * 32, "acct-1") is None
    open_trunk = Trunk("open", "sip:open.example", sid="BY" + "0" * 32)
    assert byoc_trunk((open_trunk,), "BY" + "0" * 32, "anyone") is open_trunk
