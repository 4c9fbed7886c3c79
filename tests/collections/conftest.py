"""The hand-computed ledger the collections figures are checked against (see `ledger`)."""

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from portal.billing.invoices import void_invoice
from portal.blueprints.app_services import services
from portal.payments.ledger import record_offline_payment
from tests.builders import Builders

#: A Wednesday; its week began on Monday 23 November.
TODAY = date(2026, 11, 25)


def paid(make, invoice, amount: int, at: datetime):
    return record_offline_payment(make.session, Builders.ACTOR, company=invoice.company,
                                  allocations=[(invoice, amount)], method_summary="Bank transfer",
                                  reference=f"TRF-{invoice.number}", now=at)


@pytest.fixture
def ledger(app, make):
    """Three customers' invoices on `TODAY`, each placed to test one edge of a figure.

    Days late are counted from the due date: 30 days late is the last day of "1–30".
    The figures they must give are worked out by hand in tests/collections/test_dashboard.py.
    """
    a = make.company(name="Alpha Foods", ref="CUST-ALPHA")
    b = make.company(name="Bravo Logistics", ref="CUST-BRAVO")
    c = make.company(name="Charlie Inc.", ref="CUST-CHARLIE", currency="USD")
    d = make.company(name="Delta Quiet", ref="CUST-DELTA")

    def invoice(company, number, issued, due, total, **kwargs):
        return make.invoice(company, number=number, issue_date=issued, due_date=due, total=total, **kwargs)

    a1 = invoice(a, "A1", date(2026, 11, 20), date(2026, 12, 20), 1_000_00)  # current
    a2 = invoice(a, "A2", date(2026, 10, 1), date(2026, 10, 31), 2_000_00)  # 25 days late
    paid(make, a2, 500_00, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # Monday: this week, not today
    a3 = invoice(a, "A3", date(2026, 8, 1), date(2026, 9, 25), 3_000_00)  # 61 days late, disputed
    a4 = invoice(a, "A4", date(2026, 6, 1), date(2026, 7, 1), 400_00)  # 147 days late
    make.credit_note(a4, 100_00)
    void_invoice(make.session, Builders.ACTOR, invoice(a, "A5", date(2026, 11, 24), date(2026, 12, 24), 5_000_00),
                 "Duplicate")
    invoice(a, "A6", date(2026, 11, 24), date(2026, 12, 24), 7_000_00, issue=False)  # a draft
    a7 = invoice(a, "A7", date(2026, 10, 27), date(2026, 11, 24), 600_00)
    # 00:30 in Paris on TODAY is still the day before in UTC: it was received today.
    paid(make, a7, 600_00, datetime(2026, 11, 24, 23, 30, tzinfo=UTC))

    invoice(b, "B1", date(2026, 9, 1), date(2026, 10, 26), 700_00)  # 30 days late
    invoice(b, "B2", date(2026, 8, 15), date(2026, 10, 25), 800_00)  # 31 days late
    invoice(b, "B3", date(2026, 7, 1), date(2026, 8, 27), 900_00)  # 90 days late
    invoice(b, "B4", date(2026, 7, 1), date(2026, 8, 26), 100_00)  # 91 days late
    b5 = invoice(b, "B5", date(2026, 10, 26), date(2026, 11, 26), 300_00)  # issued 30 days ago, not yet due
    # 23:30 on Sunday in Paris: last week, however close to Monday.
    paid(make, b5, 50_00, datetime(2026, 11, 22, 22, 30, tzinfo=UTC))

    invoice(c, "C1", date(2026, 11, 1), date(2026, 12, 1), 100_00)  # dollars

    clerk = make.user(a)
    with app.app_context():
        disputes = services().disputes
    make.dispute(disputes, a3, clerk)
    # Money the ledger could not place, waiting for the collections team (received before this week).
    attention = paid(make, a1, 10_00, datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    attention.attention = "overpaid"
    make.session.flush()
    return SimpleNamespace(a=a, b=b, c=c, d=d)
