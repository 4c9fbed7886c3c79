"""Money at the edges: parsing what people type, and converting minor units for display.

Inside Acquit an amount is always an `int` of minor units (cents) next to an ISO 4217
currency code; these functions are the only places that cross to and from decimals.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from babel.core import Locale
from babel.numbers import get_currency_precision, get_currency_symbol, get_decimal_symbol, list_currencies

from portal.billing.errors import InvalidAmount

_IGNORED_IN_AMOUNTS = {" ", "\u00a0", "\u202f", "'", "€", "$", "£"}
_MAX_AMOUNT_TEXT = 32


class Money(NamedTuple):
    """An amount in minor units with its currency, as an error's message parameter; pages write it
    in the reader's locale, logs as "1956.35 EUR"."""

    amount: int
    currency: str

    def __str__(self) -> str:
        return f"{to_decimal(self.amount, self.currency)} {self.currency}"


def minor_unit_digits(currency: str) -> int:
    """How many decimal digits the currency's minor unit has (2 for EUR, 0 for JPY)."""
    return get_currency_precision(currency)


def is_iso_currency(code: str) -> bool:
    return isinstance(code, str) and len(code) == 3 and code.isupper() and code in _iso_currencies()


def _iso_currencies() -> set[str]:
    global _ISO_CURRENCIES
    if _ISO_CURRENCIES is None:
        _ISO_CURRENCIES = set(list_currencies(locale=Locale("en")))
    return _ISO_CURRENCIES


_ISO_CURRENCIES: set[str] | None = None


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units as a Decimal in major units: 123456 EUR -> Decimal('1234.56')."""
    return Decimal(amount).scaleb(-minor_unit_digits(currency))


def parse_amount(text: str, currency: str, *, locale: str | None = None) -> int:
    """What a person typed ("1 234,56", "1,234.56", "1234.5 €") as minor units.

    The last `.` or `,` is the decimal separator when at most the currency's number of
    decimals follow it and it appears once; every other `.`, `,` or space groups thousands.
    Negative amounts and more decimals than the currency has are refused.

    With the `locale` the person reads the page in, a lone separator that is that locale's
    decimal symbol is never read as thousands: "1,234" in French (or "1.234" in English)
    is a decimal the currency does not have, refused rather than taken as a thousand times
    more. The locale's symbol for `currency` ("¥", "$US") may be typed with the figure.
    """
    if text is None:
        raise _invalid(text)
    typed = str(text).strip()
    if locale is not None:
        typed = typed.replace(get_currency_symbol(currency, locale), "")
    compact = "".join(ch for ch in typed if ch not in _IGNORED_IN_AMOUNTS)
    if compact.upper().endswith(currency.upper()):
        compact = compact[: -len(currency)]
    if not compact or len(compact) > _MAX_AMOUNT_TEXT:
        raise _invalid(text)
    digits = minor_unit_digits(currency)
    last_separator = max(compact.rfind(","), compact.rfind("."))
    integer_part, fraction = compact, ""
    if last_separator >= 0:
        separator = compact[last_separator]
        decimals = len(compact) - last_separator - 1
        if compact.count(separator) == 1 and decimals <= digits:
            integer_part, fraction = compact[:last_separator], compact[last_separator + 1 :]
        elif decimals > digits and decimals != 3:
            raise _invalid(text)
        elif compact.count(separator) == 1 and locale is not None and separator == get_decimal_symbol(locale):
            raise _invalid(text)
    groups = re.split(r"[.,]", integer_part)
    # Thousands are grouped with one separator, from a leading group that is not zero:
    # "12,345.678" or "0,500" are decimals this currency does not have, not thousands.
    if len(groups) > 1 and not (
        1 <= len(groups[0]) <= 3
        and not groups[0].startswith("0")
        and all(len(g) == 3 for g in groups[1:])
        and len(set(re.findall(r"[.,]", integer_part))) == 1
    ):
        raise _invalid(text)
    integer_part = "".join(groups) or "0"
    if not (integer_part.isdigit() and integer_part.isascii()) or (fraction and not fraction.isdigit()):
        raise _invalid(text)
    try:
        value = Decimal(f"{integer_part}.{fraction or '0'}")
    except InvalidOperation as error:
        raise _invalid(text) from error
    return int(value.scaleb(digits))


def _invalid(text) -> InvalidAmount:
    return InvalidAmount(f"{text!r} is not an amount")


def allocate_proportionally(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` minor units in proportion to `weights`; the parts always sum to `amount`.

    Each part is first rounded down; the cents left over go one each to the parts that lost
    the largest fractions, the earlier part first on a tie, so the same inputs always give
    the same split. With no weight at all, everything goes to the first part.
    """
    if not weights:
        raise ValueError("nothing to allocate to")
    whole = sum(weights)
    if whole <= 0:
        return [amount] + [0] * (len(weights) - 1)
    floors = [amount * weight // whole for weight in weights]
    fractions = [amount * weight % whole for weight in weights]
    for index in sorted(range(len(weights)), key=lambda i: (-fractions[i], i))[: amount - sum(floors)]:
        floors[index] += 1
    return floors
