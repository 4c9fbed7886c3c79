"""The collections staff's dashboard: what each customer owes, and how much of it is late."""

from datetime import timedelta
from decimal import Decimal

import pytest

from portal import clock
from portal.billing.invoices import LineInput, create_invoice, void_invoice
from tests.blueprints.pages import table_rows, visible_text
from tests.builders import Builders

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def staff_client(make, login_as):
    return login_as(make.staff(locale="en"))


def test_the_dashboard_lists_each_customer_with_amounts_due_and_overdue_most_overdue_first(make, staff_client):
    today = clock.today()
    late, not_yet = today - timedelta(days=5), today + timedelta(days=5)

    def invoice(company, total, due, **kwargs):
        return make.invoice(company, total=total, issue_date=min(due, today) - timedelta(days=30), due_date=due,
                            **kwargs)

    zeta = make.company(name="Zeta Logistics", ref="CUST-ZETA")
    invoice(zeta, 300_00, late)
    invoice(zeta, 200_00, not_yet)

    alpha = make.company(name="Alpha Foods", ref="CUST-ALPHA")
    part_paid = invoice(alpha, 1_000_00, late)
    make.payment(part_paid, 400_00)
    make.payment(invoice(alpha, 5_000_00, late), 5_000_00)
    void_invoice(make.session, Builders.ACTOR, invoice(alpha, 7_000_00, late), "Duplicate")
    invoice(alpha, 9_000_00, late, issue=False)

    dollars = make.company(name="Mid Corp Inc.", ref="CUST-MID", currency="USD")
    invoice(dollars, 50_00, today)

    drafts_only = make.company(name="Drafts Only Ltd", ref="CUST-DRAFT")
    invoice(drafts_only, 100_00, late, issue=False)
    make.session.commit()

    response = staff_client.get("/collections/")

    assert response.status_code == 200
    assert table_rows(response, "balances") == [
        # Customer, Reference, Amount due, Overdue, Overdue invoices, Unpaid invoices
        ["Alpha Foods", "CUST-ALPHA", "€600.00", "€600.00", "1", "1"],
        ["Zeta Logistics", "CUST-ZETA", "€500.00", "€300.00", "1", "2"],
        ["Mid Corp Inc.", "CUST-MID", "$50.00", "$0.00", "0", "1"],
    ]


def test_a_customer_with_invoices_in_two_currencies_gets_a_row_for_each(make, staff_client):
    company = make.company(name="Twin Currency SA", ref="CUST-TWIN")
    make.invoice(company, total=100_00)
    today = clock.today()
    create_invoice(make.session, Builders.ACTOR, company=company, number="INV-GBP-1", currency="GBP",
                   issue_date=today, due_date=today + timedelta(days=30),
                   lines=[LineInput(description="Freight", quantity=Decimal(1), unit_amount=70_00,
                                    tax_rate=Decimal(0))])
    make.session.commit()

    rows = table_rows(staff_client.get("/collections/"), "balances")

    assert sorted(row[2] for row in rows if row[0] == "Twin Currency SA") == ["£70.00", "€100.00"]


def test_the_dashboard_says_so_when_no_customer_has_an_issued_invoice(make, staff_client):
    make.invoice(make.company(), issue=False)
    make.session.commit()

    response = staff_client.get("/collections/")

    assert response.status_code == 200
    assert "No customer has an issued invoice yet." in visible_text(response)
