"""How an invoice line's amounts are computed, and so how taxes round. Written once, here.

A line's net amount is quantity × unit amount, and its tax is net × rate / 100, each rounded
to the nearest minor unit with halves away from zero (ROUND_HALF_UP), per line. The
invoice's net, tax and total are the sums of its lines' rounded figures, so the total
printed on an invoice is always the sum of the lines printed above it.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class LineAmounts:
    net: int
    tax: int

    @property
    def total(self) -> int:
        return self.net + self.tax


def line_amounts(quantity: Decimal, unit_amount: int, tax_rate: Decimal) -> LineAmounts:
    """The net and tax of one line, in minor units, rounded half up per line."""
    net = (Decimal(quantity) * Decimal(unit_amount)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    tax = (net * Decimal(tax_rate) / _HUNDRED).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return LineAmounts(net=int(net), tax=int(tax))
