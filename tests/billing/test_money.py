"""Parsing what people type as amounts, and converting minor units back to decimals."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.billing.errors import InvalidAmount
from portal.billing.money import is_iso_currency, minor_unit_digits, parse_amount, to_decimal


@pytest.mark.parametrize(
    ("text", "currency", "minor_units"),
    [
        ("1 234,56", "EUR", 123456),
        ("1\u202f234,56", "EUR", 123456),
        ("1\u00a0234,56", "EUR", 123456),
        ("1,234.56", "EUR", 123456),
        ("1.234.567,89", "EUR", 123456789),
        ("1,234,567.89", "EUR", 123456789),
        ("1234.5 €", "EUR", 123450),
        ("€ 12.50", "EUR", 1250),
        ("12.50 EUR", "EUR", 1250),
        ("12.50 eur", "EUR", 1250),
        ("0,5", "EUR", 50),
        ("0.05", "EUR", 5),
        ("42", "EUR", 4200),
        ("  42  ", "EUR", 4200),
        ("1'234.50", "CHF", 123450),
        ("1234", "JPY", 1234),
        ("1,234", "JPY", 1234),
        ("1 234", "JPY", 1234),
        ("0", "EUR", 0),
    ],
)
def test_parse_amount_reads_what_people_type_as_minor_units(text, currency, minor_units):
    assert parse_amount(text, currency) == minor_units


def test_parse_amount_reads_three_digits_after_a_lone_separator_as_thousands_in_a_two_decimal_currency():
    assert parse_amount("1.234", "EUR") == 123400
    assert parse_amount("1,234", "EUR") == 123400


@pytest.mark.parametrize(("text", "currency", "locale"), [
    ("1,234", "EUR", "fr"),
    ("1.234", "EUR", "en"),
    ("1,234", "JPY", "fr"),
    ("1.234", "JPY", "en"),
])
def test_parse_amount_never_reads_the_locales_decimal_symbol_as_thousands(text, currency, locale):
    with pytest.raises(InvalidAmount):
        parse_amount(text, currency, locale=locale)


@pytest.mark.parametrize(("text", "currency", "locale", "minor_units"), [
    ("1.234", "EUR", "fr", 123400),
    ("1,234", "EUR", "en", 123400),
    ("1 234,56", "EUR", "fr", 123456),
    ("1,234.56", "EUR", "fr", 123456),
    ("1,5", "EUR", "en", 150),
    ("1 234", "JPY", "fr", 1234),
    ("¥500", "JPY", "en", 500),
    ("500\u00a0JPY", "JPY", "fr", 500),
    ("12,50\u00a0$US", "USD", "fr", 1250),
])
def test_parse_amount_in_a_locale_reads_its_grouping_and_currency_symbol(text, currency, locale, minor_units):
    assert parse_amount(text, currency, locale=locale) == minor_units


def test_parse_amount_reads_a_lone_separator_as_decimal_in_a_three_decimal_currency():
    assert parse_amount("1.234", "BHD") == 1234
    assert parse_amount("1,234.567", "BHD") == 1234567


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "-5",
        "- 5",
        "1.2.3",
        "1,2345",
        "1.234,5678",
        "12,345.678",
        "1.234,567.89",
        "0,500",
        "0.001",
        "1,23,4",
        "1234.567",
        "1e5",
        "Infinity",
        "NaN",
        "0x10",
        "5 USD",
        "١٢٣",
        "",
        "   ",
        "€",
        "9" * 33,
        "1" * 10_000,
        "1,000" * 1000,
    ],
)
def test_parse_amount_refuses_what_is_not_a_euro_amount(text):
    with pytest.raises(InvalidAmount):
        parse_amount(text, "EUR")


def test_parse_amount_refuses_none():
    with pytest.raises(InvalidAmount):
        parse_amount(None, "EUR")


def test_parse_amount_refuses_decimals_in_a_currency_without_minor_units():
    with pytest.raises(InvalidAmount):
        parse_amount("1.5", "JPY")


def test_invalid_amount_is_a_value_error_naming_the_text():
    with pytest.raises(ValueError, match="'abc'"):
        parse_amount("abc", "EUR")


@given(
    minor_units=st.integers(min_value=0, max_value=10**15),
    grouping=st.sampled_from(["", " ", ".", ","]),
    currency=st.sampled_from(["EUR", "USD", "JPY", "BHD"]),
)
def test_parse_amount_reads_back_any_amount_written_with_thousands_grouping(minor_units, grouping, currency):
    digits = minor_unit_digits(currency)
    value = to_decimal(minor_units, currency)
    decimal_separator = "," if grouping == "." else "."
    integer, _, fraction = f"{value:f}".partition(".")
    groups = [integer[max(0, end - 3):end] for end in range(len(integer), 0, -3)][::-1]
    text = grouping.join(groups) + (decimal_separator + fraction if digits else "")
    assert parse_amount(text, currency) == minor_units


def test_to_decimal_shifts_minor_units_by_the_currency_exponent():
    assert to_decimal(123456, "EUR") == Decimal("1234.56")
    assert to_decimal(500, "JPY") == Decimal("500")
    assert to_decimal(1234, "BHD") == Decimal("1.234")


def test_to_decimal_keeps_the_currency_exponent_for_display():
    assert str(to_decimal(5, "EUR")) == "0.05"
    assert str(to_decimal(100, "EUR")) == "1.00"


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(["EUR", "JPY", "BHD", "USD"]))
def test_to_decimal_then_scaling_back_gives_the_same_minor_units(minor_units, currency):
    assert int(to_decimal(minor_units, currency).scaleb(minor_unit_digits(currency))) == minor_units


@pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "GBP", "CHF", "BHD"])
def test_is_iso_currency_accepts_iso_4217_codes(code):
    assert is_iso_currency(code)


@pytest.mark.parametrize("code", ["eur", "Eur", "EURO", "EU", "XYZ", "", None, 978, "€"])
def test_is_iso_currency_refuses_anything_else(code):
    assert not is_iso_currency(code)
