import pytest

from callgate.dialects.twilio.addresses import AddressKind, address_kind, formatted, valid_caller


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("+14155550100", AddressKind.PHONE),
        ("+442071838750", AddressKind.PHONE),
        ("sip:bob@example.com", AddressKind.SIP),
        ("sip:bob@127.0.0.1:5070;transport=tcp", AddressKind.SIP),
        ("SIP:alice@[2001:db8::1]:5060", AddressKind.SIP),
        ("sips:example.com", AddressKind.SIP),
        ("client:alice", AddressKind.CLIENT),
        ("+1234", None),
        ("+0123456789", None),
        ("4155550100", None),
        ("sip:", None),
        ("sip:bob@", None),
        ("client:", None),
        ("client:has space", None),
        ("tel:+14155550100", None),
        ("", None),
    ],
)
def test_address_kind(value, kind):
    assert address_kind(value) is kind


def test_a_phone_callee_needs_a_phone_caller():
    assert valid_caller("+14155550199", AddressKind.PHONE)
    assert not valid_caller("alice", AddressKind.PHONE)
    assert not valid_caller("client:alice", AddressKind.PHONE)
    assert not valid_caller("sip:alice@example.com", AddressKind.PHONE)


def test_sip_and_client_callees_take_names():
    for callee in (AddressKind.SIP, AddressKind.CLIENT):
        assert valid_caller("alice", callee)
        assert valid_caller("Front Desk", callee)
        assert valid_caller("sip:alice@example.com", callee)
        assert not valid_caller("<script>", callee)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+14155550100", "(415) 555-0100"),
        ("+442071838750", "+442071838750"),
        ("sip:bob@example.com", "sip:bob@example.com"),
        ("client:alice", "client:alice"),
    ],
)
def test_formatted(value, shown):
    assert formatted(value) == shown
