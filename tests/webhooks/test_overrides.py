"""Connection overrides in the URL fragment: Twilio's defaults, bounds, and what happens to bad values."""

from __future__ import annotations

import pytest

from callgate.webhooks.overrides import (
    EDGE_LOCATION_INVALID,
    RETRY_POLICY_INVALID,
    Overrides,
    OverrideWarning,
    WebhookUrl,
)


def test_no_fragment_means_twilios_defaults():
    target = WebhookUrl.parse("https://example.com/voice?a=1")
    assert target == WebhookUrl("https://example.com/voice?a=1", Overrides(), ())
    o = target.overrides
    assert (o.connect_timeout_ms, o.read_timeout_ms, o.total_timeout_ms, o.retry_count) == (
        5000,
        15000,
        15000,
        1,
    )
    assert o.retry_policy == frozenset({"ct"})
    assert (o.edges, o.sni) == ((), None)


def test_every_override_is_read_and_the_fragment_is_dropped():
    target = WebhookUrl.parse(
        "https://example.com/voice?a=1#ct=2000&rt=3000&tt=10000&rc=3&rp=ct,rt,4xx,5xx&sni=y&e=dublin,ashburn"
    )
    assert target.url == "https://example.com/voice?a=1"
    assert target.warnings == ()
    assert target.overrides == Overrides(
        connect_timeout_ms=2000,
        read_timeout_ms=3000,
        total_timeout_ms=10000,
        retry_count=3,
        retry_policy=frozenset({"ct", "rt", "4xx", "5xx"}),
        edges=("dublin", "ashburn"),
        sni=True,
        tries_given=True,
    )


@pytest.mark.parametrize(
    "fragment",
    ["", "ct=100", "rt=14000&rc=0", "tt=500&rp=all", "rp=4xx,5xx&sni=n", "ct=2000&e=sydney"],
)
def test_serialize_round_trips(fragment):
    overrides, warnings = Overrides.parse(fragment)
    assert warnings == ()
    assert overrides.serialize() == fragment
    assert Overrides.parse(overrides.serialize())[0] == overrides


def test_webhook_url_serializes_back():
    configured = "https://example.com/status#rc=5&rp=all"
    assert WebhookUrl.parse(configured).serialize() == configured
    assert WebhookUrl.parse("https://example.com/status#").serialize() == "https://example.com/status"


@pytest.mark.parametrize(
    ("fragment", "field", "value", "message"),
    [
        ("ct=50", "connect_timeout_ms", 100, "ct=50 is outside 100..10000; using 100"),
        ("ct=20000", "connect_timeout_ms", 10000, "ct=20000 is outside 100..10000; using 10000"),
        ("rt=99999", "read_timeout_ms", 15000, "rt=99999 is outside 100..15000; using 15000"),
        ("tt=1", "total_timeout_ms", 100, "tt=1 is outside 100..15000; using 100"),
        ("rc=9", "retry_count", 5, "rc=9 is outside 0..5; using 5"),
    ],
)
def test_out_of_range_numbers_are_clamped_with_a_warning(fragment, field, value, message):
    overrides, warnings = Overrides.parse(fragment)
    assert getattr(overrides, field) == value
    assert warnings == (OverrideWarning(None, message),)


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "", "٣"])
def test_a_number_that_is_not_one_keeps_the_default(raw):
    overrides, warnings = Overrides.parse(f"rc={raw}")
    assert overrides.retry_count == 1
    assert warnings == (OverrideWarning(None, f"rc must be a whole number, not {raw!r}; using 1"),)


def test_unknown_retry_policies_are_dropped_with_twilios_code():
    overrides, warnings = Overrides.parse("rp=5xx,timeout,RT")
    assert overrides.retry_policy == frozenset({"5xx", "rt"})
    assert warnings == (
        OverrideWarning(RETRY_POLICY_INVALID, "unknown retry policy timeout in rp='5xx,timeout,RT'"),
    )


@pytest.mark.parametrize("raw", ["bogus", ""])
def test_a_retry_policy_with_nothing_valid_keeps_the_default(raw):
    overrides, warnings = Overrides.parse(f"rp={raw}")
    assert overrides.retry_policy == frozenset({"ct"})
    assert [w.code for w in warnings] == [RETRY_POLICY_INVALID]


def test_invalid_edge_and_sni_and_unknown_names_are_noted():
    overrides, warnings = Overrides.parse("e=dub lin&sni=yes&zz=1&top")
    assert (overrides.edges, overrides.sni) == ((), None)
    assert warnings == (
        OverrideWarning(EDGE_LOCATION_INVALID, "invalid edge location in e='dub lin'"),
        OverrideWarning(None, "sni must be y or n, not 'yes'; ignored"),
        OverrideWarning(None, "unknown connection override 'zz'; ignored"),
        OverrideWarning(None, "unknown connection override 'top'; ignored"),
    )


def test_the_last_of_repeated_names_wins_and_values_may_be_percent_encoded():
    overrides, warnings = Overrides.parse("rc=2&rc=4&rp=ct%2C5xx")
    assert warnings == ()
    assert (overrides.retry_count, overrides.retry_policy) == (4, frozenset({"ct", "5xx"}))


def test_retries_on():
    default = Overrides()
    assert default.retries_on("ct")
    assert not any(default.retries_on(kind) for kind in ("rt", "4xx", "5xx"))
    everything = Overrides(retry_policy=frozenset({"all"}))
    assert all(everything.retries_on(kind) for kind in ("ct", "rt", "4xx", "5xx"))


@pytest.mark.parametrize(
    ("fragment", "given"),
    [
        ("", False),
        ("ct=2000&rt=3000&tt=10000", False),
        ("rc=1", True),  # Twilio's default, written out: still the URL's own say
        ("rc=0", True),
        ("rp=5xx", True),
        ("rp=ct", True),
        ("rc=abc", False),  # nothing usable: the outbox's schedule applies
        ("rp=bogus", False),
    ],
)
def test_rc_or_rp_in_the_fragment_decide_the_tries(fragment, given):
    overrides, _ = Overrides.parse(fragment)
    assert overrides.tries_given is given
    again, _ = Overrides.parse(overrides.serialize())
    assert again == overrides, "serialize keeps that the tries were given"
