"""What a call costs: a per-minute rate by destination prefix, and the price of a call that lasted so long.

Rates come from the operator's configuration (`[rates]`: a prefix of the To, e.g. "+1" or "+4420", to
USD per minute; "sip:" for SIP URIs; "*" for everything else). The longest matching prefix wins. A
call is billed per started minute, as the vendors bill voice; a call nobody answered costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal, InvalidOperation

PLACES = Decimal("0.00001")  # Twilio's prices carry five decimals


class RateTable:
    def __init__(self, rates: Mapping[str, str | float | Decimal] | None = None) -> None:
        self._rates: dict[str, Decimal] = {}
        for prefix, value in (rates or {}).items():
            try:
                rate = Decimal(str(value))
            except InvalidOperation:
                raise ValueError(f"rate for {prefix!r} is not a number: {value!r}") from None
            if rate < 0:
                raise ValueError(f"rate for {prefix!r} is negative: {value!r}")
            self._rates[prefix] = rate

    def __bool__(self) -> bool:
        return bool(self._rates)

    def rate_for(self, to: str) -> Decimal | None:
        """USD per minute for calls to `to`, or None if no rate applies."""
        target = "sip:" if to.lower().startswith(("sip:", "sips:")) else to
        best: tuple[int, Decimal] | None = None
        for prefix, rate in self._rates.items():
            if prefix != "*" and target.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rate)
        if best is not None:
            return best[1]
        return self._rates.get("*")

    def price(self, to: str, duration_s: int | None) -> str | None:
        """The price of a call to `to` that lasted `duration_s` (per started minute), as a decimal string."""
        rate = self.rate_for(to)
        if rate is None or duration_s is None:
            return None
        minutes = (Decimal(max(0, duration_s)) / 60).to_integral_value(rounding=ROUND_CEILING)
        return str((rate * minutes).quantize(PLACES))


def exceeds(rate: Decimal | None, max_price_per_minute: str | None) -> bool:
    """Whether a call at `rate` is dearer than the caller's MaxPricePerMinute (unknown rates never are)."""
    if rate is None or not max_price_per_minute:
        return False
    return rate > Decimal(max_price_per_minute)
