"""Amounts and dates written as Babel writes them, by objects built once per locale.

Babel's `format_currency` and `format_date` parse the locale's pattern, look up its symbols
and quantize a Decimal on every call: a tenth of a millisecond each, and a page of 50
invoices makes hundreds of calls. Here each locale's (and currency's) pattern is read once;
writing an amount is then a few string operations, and a date is looked up once per day.
`tests/test_formats.py` holds both to Babel's output over many values. No Flask in here.
"""

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, get_currency_precision, get_decimal_symbol, get_group_symbol

# Far more distinct days than a page shows: whole years of invoices.
_DATES_KEPT = 8192


class MoneyFormat:
    """Minor units of one currency, written for one locale exactly as `babel.numbers.format_currency` writes them."""

    def __init__(self, currency: str, locale: Locale):
        self.currency = currency
        self.locale = locale
        self.digits = get_currency_precision(currency)
        pattern = locale.currency_formats["standard"]
        self._primary, self._secondary = pattern.grouping
        self._group = get_group_symbol(locale)
        self._decimal = get_decimal_symbol(locale)
        # The text around the figures, for a positive and a negative amount, taken from Babel's own
        # output for one amount (the currency symbol, its spacing and the minus sign are in them).
        self._affixes = [self._affixes_of(sample) for sample in (123456789, -123456789)]

    def _affixes_of(self, sample: int) -> tuple[str, str]:
        written = format_currency(_to_decimal(sample, self.digits), self.currency, locale=self.locale)
        figures = self._figures(abs(sample))
        before, found, after = written.partition(figures)
        if not found or figures in after:
            raise ValueError(f"cannot read {self.currency}'s format in {self.locale}: {written!r}")
        return before, after

    def _figures(self, amount: int) -> str:
        """`amount` (not negative) in this locale's digits, groups and decimal separator."""
        text = str(amount)
        if self.digits:
            text = text.rjust(self.digits + 1, "0")
            whole, fraction = text[:-self.digits], text[-self.digits:]
        else:
            whole, fraction = text, ""
        size = self._primary
        grouped = ""
        while len(whole) > size:
            grouped = self._group + whole[-size:] + grouped
            whole = whole[:-size]
            size = self._secondary
        grouped = whole + grouped
        return grouped + self._decimal + fraction if fraction else grouped

    def __call__(self, amount: int) -> str:
        before, after = self._affixes[amount < 0]
        return before + self._figures(abs(amount)) + after


def _to_decimal(amount: int, digits: int) -> Decimal:
    return Decimal(amount).scaleb(-digits)


class DateFormat:
    """Dates in one of Babel's formats ("medium", "d MMM") for one locale, each day asked of Babel once."""

    def __init__(self, pattern: str, locale: Locale):
        self.pattern = pattern
        self.locale = locale
        self._written: dict[date, str] = {}

    def __call__(self, day: date | None) -> str:
        if not day:
            return ""
        if isinstance(day, datetime):
            # As Babel does: the day of the datetime as it stands, whatever its time zone.
            day = day.date()
        written = self._written.get(day)
        if written is None:
            if len(self._written) >= _DATES_KEPT:
                self._written.clear()
            written = self._written[day] = format_date(day, format=self.pattern, locale=self.locale)
        return written


class LocaleFormats:
    """Everything a page writes in one locale: amounts per currency and its date formats."""

    def __init__(self, locale: Locale):
        self.locale = locale
        self._money: dict[str, MoneyFormat] = {}
        self.short_date = DateFormat("medium", locale)
        self.day_and_month = DateFormat("d MMM", locale)

    def money(self, amount: int | None, currency: str) -> str:
        """`amount` minor units of `currency`: 123456 EUR is "1 234,56 €" in French, "€1,234.56" in English."""
        if amount is None:
            return ""
        written = self._money.get(currency)
        if written is None:
            written = self._money[currency] = MoneyFormat(currency, self.locale)
        return written(amount)


@lru_cache(maxsize=64)
def formats_for(locale: str) -> LocaleFormats:
    """The one `LocaleFormats` of `locale` ("fr", "en_GB") in this process."""
    return LocaleFormats(Locale.parse(locale))


def locale_with_region(language: str, region: str | None) -> str:
    """`language` in the formats of `region` ("en", "GB" -> "en_GB"), if Babel knows that locale."""
    if not region:
        return language
    try:
        return str(Locale.parse(f"{language}_{region}"))
    except (ValueError, UnknownLocaleError):
        return language
