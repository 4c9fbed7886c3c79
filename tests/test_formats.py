"""The formats built once per locale write exactly what Babel writes, over many values."""

import random
from datetime import date, timedelta

import pytest
from babel.dates import format_date
from babel.numbers import format_currency

from portal.billing.money import to_decimal
from portal.formats import formats_for

LOCALES = ("fr", "en", "en_GB", "fr_BE")
CURRENCIES = ("EUR", "GBP", "USD", "JPY", "CHF")


def _amounts() -> list[int]:
    rng = random.Random(17)
    edges = [0, 1, 5, 9, 10, 99, 100, 101, 999, 1_000, 1_001, 99_999, 100_000, 123_456, 999_999, 1_000_000,
             12_345_678, 999_999_999, 10**15 + 7, 2**63 - 1]
    spread = [rng.randrange(0, 10 ** rng.randint(1, 14)) for _ in range(2_000)]
    return [sign * amount for amount in edges + spread for sign in (1, -1)]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("currency", CURRENCIES)
def test_amounts_are_written_as_babel_writes_them(locale, currency):
    money = formats_for(locale).money
    for amount in _amounts():
        assert money(amount, currency) == format_currency(to_decimal(amount, currency), currency, locale=locale), amount


@pytest.mark.parametrize("locale", LOCALES)
def test_dates_are_written_as_babel_writes_them(locale):
    formats = formats_for(locale)
    day = date(2019, 1, 1)
    while day < date(2031, 1, 1):
        assert formats.short_date(day) == format_date(day, format="medium", locale=locale)
        assert formats.day_and_month(day) == format_date(day, format="d MMM", locale=locale)
        day += timedelta(days=1)
    assert formats.short_date(None) == "" and formats.money(None, "EUR") == ""


def test_one_object_per_locale_serves_every_page():
    assert formats_for("fr") is formats_for("fr")
    assert formats_for("fr") is not formats_for("en")
