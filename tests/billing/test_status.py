"""An invoice's status, in Python and in SQL, and the property that the two always agree."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.audit import Actor
from portal.billing.invoices import void_invoice
from portal.billing.status import InvoiceStatus, amount_due_expression, invoice_status, status_expression
from portal.models import ACTIVE_DISPUTE_STATUSES, Dispute, DisputeStatus, Invoice

TODAY = date(2026, 6, 15)
ISSUED = TODAY - timedelta(days=20)
_AN_INSTANT = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)


def _invoice(make, **kwargs):
    return make.invoice(make.company(), total=10_000, issue_date=ISSUED, **kwargs)


def _sql_status(db, invoice, today=TODAY):
    db.flush()
    return db.scalar(select(status_expression(today)).where(Invoice.id == invoice.id))


def test_an_invoice_not_yet_issued_is_a_draft(db, make):
    invoice = _invoice(make, issue=False)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.DRAFT
    assert _sql_status(db, invoice) == "draft"


def test_an_issued_invoice_with_nothing_settled_before_its_due_date_is_open(db, make):
    invoice = _invoice(make, due_date=TODAY + timedelta(days=10))
    assert invoice_status(invoice, TODAY) == InvoiceStatus.OPEN
    assert _sql_status(db, invoice) == "open"


def test_an_invoice_due_today_is_still_open(db, make):
    invoice = _invoice(make, due_date=TODAY)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.OPEN
    assert _sql_status(db, invoice) == "open"


def test_an_invoice_the_day_after_its_due_date_is_overdue(db, make):
    invoice = _invoice(make, due_date=TODAY - timedelta(days=1))
    assert invoice_status(invoice, TODAY) == InvoiceStatus.OVERDUE
    assert _sql_status(db, invoice) == "overdue"


def test_an_invoice_partly_paid_before_its_due_date_is_partially_paid(db, make):
    invoice = _invoice(make, due_date=TODAY + timedelta(days=10))
    make.payment(invoice, 4_000)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.PARTIALLY_PAID
    assert _sql_status(db, invoice) == "partially_paid"


def test_an_invoice_only_reduced_by_a_credit_note_says_credited_not_partly_paid(db, make):
    invoice = _invoice(make, due_date=TODAY + timedelta(days=10))
    make.credit_note(invoice, 1_000)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.CREDITED
    assert _sql_status(db, invoice) == "credited"


def test_an_invoice_credited_and_partly_paid_is_partially_paid(db, make):
    invoice = _invoice(make, due_date=TODAY + timedelta(days=10))
    make.credit_note(invoice, 1_000)
    make.payment(invoice, 500)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.PARTIALLY_PAID
    assert _sql_status(db, invoice) == "partially_paid"


def test_an_invoice_partly_paid_after_its_due_date_is_overdue(db, make):
    invoice = _invoice(make, due_date=TODAY - timedelta(days=1))
    make.payment(invoice, 4_000)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.OVERDUE
    assert _sql_status(db, invoice) == "overdue"


def test_an_invoice_paid_in_full_is_paid_even_after_its_due_date(db, make):
    invoice = _invoice(make, due_date=TODAY - timedelta(days=1))
    make.payment(invoice, 10_000)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.PAID
    assert _sql_status(db, invoice) == "paid"


def test_an_invoice_settled_by_a_credit_note_and_a_payment_is_paid(db, make):
    invoice = _invoice(make)
    make.credit_note(invoice, 2_500)
    make.payment(invoice, 7_500)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.PAID
    assert _sql_status(db, invoice) == "paid"


def test_an_invoice_of_zero_is_paid_as_soon_as_it_is_issued(db, make):
    invoice = make.invoice(make.company(), total=0, issue_date=ISSUED)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.PAID
    assert _sql_status(db, invoice) == "paid"


def test_a_void_invoice_is_void_even_after_its_due_date(db, make):
    invoice = _invoice(make, due_date=TODAY - timedelta(days=1))
    void_invoice(db, Actor.system("tests"), invoice, "Issued twice")
    assert invoice_status(invoice, TODAY) == InvoiceStatus.VOID
    assert _sql_status(db, invoice) == "void"


def test_a_void_draft_is_void(db, make):
    invoice = _invoice(make, issue=False)
    void_invoice(db, Actor.system("tests"), invoice, "Never sent")
    assert invoice_status(invoice, TODAY) == InvoiceStatus.VOID
    assert _sql_status(db, invoice) == "void"


def test_void_and_draft_invoices_owe_nothing_in_sql(db, make):
    draft = _invoice(make, issue=False)
    void = _invoice(make)
    void_invoice(db, Actor.system("tests"), void, "Issued twice")
    db.flush()
    owed = dict(
        db.execute(select(Invoice.id, amount_due_expression()).where(Invoice.id.in_([draft.id, void.id]))).all()
    )
    assert owed == {draft.id: 0, void.id: 0}


def _dispute(make, invoice, status):
    """A dispute in `status` on `invoice`, written bare: the rule reads only its status."""
    dispute = Dispute(invoice_id=invoice.id, company_id=invoice.company_id,
                      raised_by_user_id=make.user(invoice.company).id, reason="other", status=status,
                      disputed_amount=1, currency=invoice.currency)
    make.session.add(dispute)
    make.session.flush()
    make.session.expire(invoice, ["disputes"])
    return dispute


@pytest.mark.parametrize("status", list(ACTIVE_DISPUTE_STATUSES))
@pytest.mark.parametrize("when", ["before its due date", "overdue", "partly paid"])
def test_an_issued_unpaid_invoice_with_an_active_dispute_is_disputed(db, make, status, when):
    invoice = _invoice(make, due_date=TODAY + timedelta(days=-1 if when == "overdue" else 10))
    if when == "partly paid":
        make.payment(invoice, 4_000)
    _dispute(make, invoice, status)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.DISPUTED
    assert _sql_status(db, invoice) == "disputed"


@pytest.mark.parametrize("status", [DisputeStatus.RESOLVED_CREDITED, DisputeStatus.REJECTED, DisputeStatus.WITHDRAWN])
def test_a_closed_dispute_leaves_the_invoice_its_usual_status(db, make, status):
    invoice = _invoice(make, due_date=TODAY - timedelta(days=1))
    _dispute(make, invoice, status)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.OVERDUE
    assert _sql_status(db, invoice) == "overdue"


def test_a_paid_or_void_invoice_is_paid_or_void_even_with_a_dispute_still_open(db, make):
    paid, void = _invoice(make), _invoice(make)
    _dispute(make, paid, DisputeStatus.OPEN)
    make.payment(paid, 10_000)
    _dispute(make, void, DisputeStatus.OPEN)
    void_invoice(db, Actor.system("tests"), void, "Issued twice")
    assert (invoice_status(paid, TODAY), invoice_status(void, TODAY)) == (InvoiceStatus.PAID, InvoiceStatus.VOID)
    assert (_sql_status(db, paid), _sql_status(db, void)) == ("paid", "void")


@st.composite
def invoice_rows(draw):
    """The figures of an invoice as the database allows them: never over-settled, due after issue."""
    total = draw(st.integers(min_value=0, max_value=1_000_000))
    paid = draw(st.integers(min_value=0, max_value=total))
    credited = draw(st.integers(min_value=0, max_value=total - paid))
    due_date = TODAY + timedelta(days=draw(st.integers(min_value=-5, max_value=5)))
    return {
        "amount_net": total,
        "amount_tax": 0,
        "amount_total": total,
        "amount_paid": paid,
        "amount_credited": credited,
        "due_date": due_date,
        "issue_date": due_date - timedelta(days=draw(st.integers(min_value=0, max_value=60))),
        "issued_at": draw(st.sampled_from([None, _AN_INSTANT])),
        "voided_at": draw(st.sampled_from([None, None, _AN_INSTANT])),
    }


# An invoice's disputes over time: any number closed, at most one active (the database allows no more).
dispute_histories = st.lists(st.sampled_from(list(DisputeStatus)), max_size=3).filter(
    lambda statuses: sum(status in ACTIVE_DISPUTE_STATUSES for status in statuses) <= 1
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(invoice_rows(), dispute_histories), min_size=1, max_size=8),
    today=st.dates(min_value=TODAY - timedelta(days=4), max_value=TODAY + timedelta(days=4)),
)
def test_invoice_status_in_python_always_equals_the_status_the_database_computes(db, make, rows, today):
    with db.begin_nested() as savepoint:
        company = make.company()
        clerk = make.user(company)
        invoices = [
            Invoice(company=company, number=f"INV-P-{n}", currency="EUR", custom_fields={}, **row)
            for n, (row, _) in enumerate(rows)
        ]
        db.add_all(invoices)
        db.flush()
        db.add_all(
            Dispute(invoice_id=invoice.id, company_id=company.id, raised_by_user_id=clerk.id, reason="other",
                    status=status, disputed_amount=1, currency="EUR")
            for invoice, (_, statuses) in zip(invoices, rows) for status in statuses
        )
        db.flush()
        db.expire_all()
        in_sql = dict(
            db.execute(select(Invoice.id, status_expression(today)).where(Invoice.company_id == company.id)).all()
        )
        assert {invoice.id: invoice_status(invoice, today).value for invoice in invoices} == in_sql
        savepoint.rollback()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(invoice_rows(), min_size=1, max_size=8))
def test_amount_due_in_sql_is_what_is_left_to_pay_on_issued_invoices_and_nothing_otherwise(db, make, rows):
    with db.begin_nested() as savepoint:
        company = make.company()
        invoices = [
            Invoice(company=company, number=f"INV-P-{n}", currency="EUR", custom_fields={}, **row)
            for n, row in enumerate(rows)
        ]
        db.add_all(invoices)
        db.flush()
        in_sql = dict(
            db.execute(select(Invoice.id, amount_due_expression()).where(Invoice.company_id == company.id)).all()
        )
        expected = {
            invoice.id: 0 if invoice.voided_at or not invoice.issued_at else invoice.amount_due
            for invoice in invoices
        }
        assert in_sql == expected
        savepoint.rollback()
