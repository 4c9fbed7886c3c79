"""Line amounts round half up per line, and an invoice's totals are the sums of its lines."""

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.audit import Actor
from portal.billing.invoices import LineInput, create_invoice
from portal.billing.lines import line_amounts


def test_a_line_net_is_quantity_times_unit_amount():
    assert line_amounts(Decimal(3), 1250, Decimal(0)).net == 3750


def test_a_line_net_rounds_half_a_cent_up():
    assert line_amounts(Decimal("0.5"), 1, Decimal(0)).net == 1
    assert line_amounts(Decimal("1.5"), 1, Decimal(0)).net == 2
    assert line_amounts(Decimal("2.5"), 1, Decimal(0)).net == 3


def test_a_line_net_rounds_below_half_a_cent_down():
    assert line_amounts(Decimal("0.4999"), 1, Decimal(0)).net == 0


def test_a_line_tax_rounds_half_a_cent_up():
    assert line_amounts(Decimal(1), 10, Decimal(5)).tax == 1
    assert line_amounts(Decimal(1), 25, Decimal(10)).tax == 3


def test_a_line_tax_rounds_below_half_a_cent_down():
    assert line_amounts(Decimal(1), 10, Decimal(4)).tax == 0


def test_a_line_tax_is_computed_on_the_rounded_net():
    # 0.333 × 3 = 0.999 cents, rounded to 1; the 50 % tax is on that cent: 0.5, rounded to 1.
    amounts = line_amounts(Decimal("0.333"), 3, Decimal(50))
    assert amounts.net == 1
    assert amounts.tax == 1


def test_a_discount_line_rounds_half_away_from_zero():
    amounts = line_amounts(Decimal("0.5"), -5, Decimal(10))
    assert amounts.net == -3
    assert amounts.tax == 0


def test_a_line_total_is_net_plus_tax():
    amounts = line_amounts(Decimal(2), 1999, Decimal(20))
    assert (amounts.net, amounts.tax, amounts.total) == (3998, 800, 4798)


def test_invoice_totals_are_sums_of_rounded_lines_not_rounded_sums(db, make):
    # Three lines of 0.5 cent tax each: rounded per line that is 3 cents, not round(1.5) = 2.
    company = make.company()
    invoice = create_invoice(
        db, Actor.system("tests"), company=company, number="INV-ROUND-1", issue_date=date(2026, 1, 1),
        due_date=date(2026, 1, 31), currency="EUR",
        lines=[LineInput(description=f"Item {n}", quantity=Decimal(1), unit_amount=10, tax_rate=Decimal(5))
               for n in range(3)],
    )
    assert [line.amount_tax for line in invoice.lines] == [1, 1, 1]
    assert (invoice.amount_net, invoice.amount_tax, invoice.amount_total) == (30, 3, 33)


lines_strategy = st.lists(
    st.builds(
        LineInput,
        description=st.just("Line"),
        quantity=st.decimals(min_value=0, max_value=10_000, places=4),
        unit_amount=st.integers(min_value=0, max_value=10_000_000),
        tax_rate=st.decimals(min_value=0, max_value=100, places=2),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=lines_strategy)
def test_invoice_total_is_the_sum_of_line_nets_and_line_taxes(db, make, lines):
    with db.begin_nested() as savepoint:
        company = make.company()
        invoice = create_invoice(
            db, Actor.system("tests"), company=company, number="INV-PROPERTY", issue_date=date(2026, 1, 1),
            due_date=date(2026, 1, 31), currency="EUR", lines=lines,
        )
        expected = [line_amounts(line.quantity, line.unit_amount, line.tax_rate) for line in lines]
        assert [(line.amount_net, line.amount_tax) for line in invoice.lines] == [(a.net, a.tax) for a in expected]
        assert invoice.amount_net == sum(line.amount_net for line in invoice.lines)
        assert invoice.amount_tax == sum(line.amount_tax for line in invoice.lines)
        assert invoice.amount_total == sum(a.net + a.tax for a in expected)
        savepoint.rollback()
