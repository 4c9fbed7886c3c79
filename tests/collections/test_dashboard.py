"""The dashboard's figures against the ledger of tests/collections/conftest.py, worked out by hand."""

from datetime import date
from decimal import Decimal

import pytest

from portal.collections.dashboard import Aging, dashboard, days_sales_outstanding
from tests.collections.conftest import TODAY


@pytest.fixture
def figures(ledger, db):
    return {row.currency: row for row in dashboard(db, today=TODAY).currencies}


def test_aging_puts_each_amount_due_in_its_bucket_by_days_late(figures):
    # current: A1 1,000 less 10 received + B5 300 less 50 received (due tomorrow)
    # 1-30:    A2 2,000 less 500 (25 days late) + B1 700 (30 days late)
    # 31-60:   B2 800 (31 days late)
    # 61-90:   A3 3,000 (61 days late, disputed: still receivable) + B3 900 (90 days late)
    # over 90: A4 400 less a 100 credit note (147 days late) + B4 100 (91 days late)
    # Not counted: A5 (void), A6 (draft), A7 (paid).
    assert figures["EUR"].aging == Aging(current=1_240_00, days_1_30=2_200_00, days_31_60=800_00,
                                         days_61_90=3_900_00, over_90=400_00)
    assert figures["EUR"].receivable == 8_540_00
    assert figures["EUR"].overdue == 7_300_00
    assert (figures["EUR"].open_count, figures["EUR"].overdue_count) == (9, 7)


def test_dso_is_receivable_over_the_periods_sales_times_its_days(figures):
    # Invoiced over the 30 days ending today (issued 27 Oct to 25 Nov): A1 1,000 + A7 600 = 1,600
    #   (A5 void and A6 draft are not sales; B5, issued on 26 Oct, is 30 days old: outside).
    # Over 90 days (issued from 28 Aug): A1 1,000 + A2 2,000 + A7 600 + B1 700 + B5 300 = 4,600.
    # DSO30 = 8,540 / 1,600 x 30 = 160.125 -> 160.1; DSO90 = 8,540 / 4,600 x 90 = 167.087 -> 167.1
    assert figures["EUR"].invoiced == {30: 1_600_00, 90: 4_600_00}
    assert figures["EUR"].dso == {30: Decimal("160.1"), 90: Decimal("167.1")}


def test_each_currency_has_its_own_figures(figures):
    dollars = figures["USD"]
    assert dollars.aging == Aging(current=100_00)
    assert dollars.dso == {30: Decimal("30.0"), 90: Decimal("90.0")}
    assert (dollars.received_today, dollars.received_this_week, dollars.disputes_open) == (0, 0, 0)


def test_payments_received_today_and_this_week_on_the_suppliers_calendar(figures):
    # Today: A7's 600, received at 00:30 in Paris (23:30 UTC the day before).
    # This week (from Monday 23 Nov): that, and A2's 500 on Monday. B5's 50 on Sunday 23:30 in Paris is last week's.
    assert figures["EUR"].received_today == 600_00
    assert figures["EUR"].received_this_week == 1_100_00


def test_open_disputes_and_money_needing_attention(figures):
    assert (figures["EUR"].disputes_open, figures["EUR"].disputed) == (1, 3_000_00)
    assert (figures["EUR"].attention_count, figures["EUR"].attention_amount) == (1, 10_00)


@pytest.mark.parametrize(("receivable", "invoiced", "days", "expected"), [
    (1_000, 1_000, 30, Decimal("30.0")),
    (1, 3, 30, Decimal("10.0")),
    (1, 6, 1, Decimal("0.2")),  # 0.1666… rounds half up to one decimal
    (1, 4, 1, Decimal("0.3")),  # 0.25 -> 0.3, not banker's 0.2
    (0, 500, 90, Decimal("0.0")),
    (500, 0, 90, None),  # nothing invoiced: undefined, not a division by zero
])
def test_days_sales_outstanding(receivable, invoiced, days, expected):
    assert days_sales_outstanding(receivable, invoiced, days) == expected


def test_nothing_at_all_gives_no_currency(db):
    assert dashboard(db, today=date(2026, 1, 1)).currencies == []
