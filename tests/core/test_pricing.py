import pytest

from callgate.core.pricing import RateTable, exceeds

RATES = RateTable({"+1": "0.0140", "+1415": "0.0100", "+44": "0.0300", "sip:": "0.0040", "*": "0.5000"})


@pytest.mark.parametrize(
    ("to", "rate"),
    [("+14155550100", "0.0100"), ("+12125550100", "0.0140"), ("+447700900123", "0.0300"),
     ("sip:alice@example.com", "0.0040"), ("+33123456789", "0.5000")],
)  # fmt: skip
def test_the_longest_prefix_wins(to, rate):
    assert str(RATES.rate_for(to)) == rate


def test_calls_are_billed_per_started_minute():
    assert RATES.price("+12125550100", 0) == "0.00000"
    assert RATES.price("+12125550100", 1) == "0.01400"
    assert RATES.price("+12125550100", 60) == "0.01400"
    assert RATES.price("+12125550100", 61) == "0.02800"
    assert RATES.price("+12125550100", None) is None
    assert RateTable().price("+12125550100", 61) is None, "no table, no price"


def test_max_price_per_minute():
    assert exceeds(RATES.rate_for("+447700900123"), "0.02")
    assert not exceeds(RATES.rate_for("+447700900123"), "0.03")
    assert not exceeds(None, "0.0001")
    assert not exceeds(RATES.rate_for("+447700900123"), None)


def test_bad_rates_are_refused():
    with pytest.raises(ValueError, match="not a number"):
        RateTable({"+1": "cheap"})
    with pytest.raises(ValueError, match="negative"):
        RateTable({"+1": "-1"})
