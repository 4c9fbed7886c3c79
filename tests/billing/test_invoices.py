"""Writing invoices and credit notes: what is refused, and the audit trail every change leaves."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.audit import Actor
from portal.billing.errors import InvalidInvoice, InvoiceConflict, OverSettlement
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, issue_invoice, void_invoice
from portal.models import AuditEvent, CreditNote

ACTOR = Actor.system("tests")
ISSUE_DATE = date(2026, 3, 1)
MOMENT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _line(**overrides) -> LineInput:
    fields = {"description": "Consulting", "quantity": Decimal(2), "unit_amount": 5_000, "tax_rate": Decimal(20)}
    return LineInput(**{**fields, **overrides})


def _create(db, company, **overrides):
    arguments = {
        "company": company, "number": "INV-2026-001", "issue_date": ISSUE_DATE,
        "due_date": ISSUE_DATE + timedelta(days=30), "currency": "EUR", "lines": [_line()],
    }
    return create_invoice(db, ACTOR, **{**arguments, **overrides})


def _events(db, **where) -> list[AuditEvent]:
    statement = select(AuditEvent).order_by(AuditEvent.id)
    for column, value in where.items():
        statement = statement.where(getattr(AuditEvent, column) == value)
    db.flush()
    return list(db.scalars(statement))


def test_create_invoice_computes_amounts_from_its_lines(db, make):
    invoice = _create(db, make.company(), lines=[_line(), _line(quantity=Decimal(1), tax_rate=Decimal(0))])
    assert (invoice.amount_net, invoice.amount_tax, invoice.amount_total) == (15_000, 2_000, 17_000)
    assert (invoice.amount_paid, invoice.amount_credited) == (0, 0)


def test_create_invoice_records_invoice_created_with_its_total(db, make):
    company = make.company()
    invoice = _create(db, company, issue=False, now=MOMENT)
    [event] = _events(db, invoice_id=invoice.id)
    assert (event.action, event.amount, event.currency) == ("invoice.created", 12_000, "EUR")
    assert (event.company_id, event.actor_label, event.occurred_at) == (company.id, "system:tests", MOMENT)
    assert event.details == {"number": "INV-2026-001"}


def test_create_invoice_issues_it_by_default(db, make):
    invoice = _create(db, make.company(), now=MOMENT)
    assert invoice.issued_at == MOMENT
    assert [event.action for event in _events(db, invoice_id=invoice.id)] == ["invoice.created", "invoice.issued"]


def test_create_invoice_leaves_a_draft_when_told_not_to_issue(db, make):
    invoice = _create(db, make.company(), issue=False)
    assert invoice.issued_at is None


def test_issue_invoice_records_invoice_issued_with_its_total(db, make):
    invoice = _create(db, make.company(), issue=False)
    issue_invoice(db, ACTOR, invoice, now=MOMENT)
    event = _events(db, invoice_id=invoice.id)[-1]
    assert (event.action, event.amount, event.currency, event.occurred_at) == ("invoice.issued", 12_000, "EUR", MOMENT)


def test_issuing_an_issued_invoice_again_changes_nothing(db, make):
    invoice = _create(db, make.company(), now=MOMENT)
    issue_invoice(db, ACTOR, invoice, now=MOMENT + timedelta(days=1))
    assert invoice.issued_at == MOMENT
    assert [event.action for event in _events(db, invoice_id=invoice.id)].count("invoice.issued") == 1


def test_void_invoice_records_invoice_voided_with_the_reason(db, make):
    invoice = _create(db, make.company())
    void_invoice(db, ACTOR, invoice, "Sent to the wrong customer", now=MOMENT)
    event = _events(db, invoice_id=invoice.id)[-1]
    assert (event.action, event.amount, event.occurred_at) == ("invoice.voided", 12_000, MOMENT)
    assert event.details == {"reason": "Sent to the wrong customer"}
    assert (invoice.voided_at, invoice.void_reason) == (MOMENT, "Sent to the wrong customer")


def test_voiding_a_void_invoice_again_changes_nothing(db, make):
    invoice = _create(db, make.company())
    void_invoice(db, ACTOR, invoice, "First", now=MOMENT)
    void_invoice(db, ACTOR, invoice, "Second", now=MOMENT + timedelta(days=1))
    assert (invoice.voided_at, invoice.void_reason) == (MOMENT, "First")
    assert [event.action for event in _events(db, invoice_id=invoice.id)].count("invoice.voided") == 1


def test_void_invoice_is_refused_once_a_payment_is_applied(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    make.payment(invoice, 1)
    with pytest.raises(InvoiceConflict, match="payments"):
        void_invoice(db, ACTOR, invoice, "Too late")
    assert invoice.voided_at is None


def test_void_invoice_is_allowed_when_only_credit_notes_are_applied(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    make.credit_note(invoice, 10_000)
    void_invoice(db, ACTOR, invoice, "Cancelled")
    assert invoice.voided_at is not None


def test_issue_credit_note_reduces_the_amount_due(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    make.credit_note(invoice, 2_500)
    assert (invoice.amount_credited, invoice.amount_due) == (2_500, 7_500)


def test_issue_credit_note_records_credit_note_applied_with_its_amount(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    issue_credit_note(db, ACTOR, invoice=invoice, number="CN-9", amount=2_500, issue_date=ISSUE_DATE,
                      reason="Damaged goods", now=MOMENT)
    event = _events(db, invoice_id=invoice.id)[-1]
    assert (event.action, event.amount, event.currency, event.occurred_at) == (
        "credit_note.applied", 2_500, "EUR", MOMENT)
    assert event.details == {"credit_note": "CN-9", "reason": "Damaged goods"}


def test_credit_note_for_exactly_the_amount_due_is_accepted(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    make.payment(invoice, 4_000)
    make.credit_note(invoice, 6_000)
    assert invoice.amount_due == 0


def test_credit_note_over_the_amount_due_is_refused_naming_the_amount(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    make.payment(invoice, 4_000)
    with pytest.raises(InvalidInvoice) as refused:
        make.credit_note(invoice, 6_001)
    assert refused.value.field == "amount"
    assert db.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice.id)).all() == []


@pytest.mark.parametrize("amount", [0, -100])
def test_credit_note_of_nothing_or_less_is_refused_naming_the_amount(make, amount):
    invoice = make.invoice(make.company(), total=10_000)
    with pytest.raises(InvalidInvoice) as refused:
        make.credit_note(invoice, amount)
    assert refused.value.field == "amount"


def test_credit_note_on_a_void_invoice_is_refused(db, make):
    invoice = make.invoice(make.company(), total=10_000)
    void_invoice(db, ACTOR, invoice, "Cancelled")
    with pytest.raises(InvalidInvoice) as refused:
        make.credit_note(invoice, 100)
    assert refused.value.field == "invoice"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"due_date": ISSUE_DATE - timedelta(days=1)}, "due_date"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"lines": [_line(quantity=Decimal(-1))]}, "lines.quantity"),
        ({"lines": [_line(tax_rate=Decimal("100.01"))]}, "lines.tax_rate"),
        ({"lines": [_line(tax_rate=Decimal(-1))]}, "lines.tax_rate"),
        ({"lines": []}, "lines"),
        ({"number": "  "}, "number"),
    ],
)
def test_create_invoice_refuses_bad_terms_naming_the_field(db, make, overrides, field):
    with pytest.raises(InvalidInvoice) as refused:
        _create(db, make.company(), **overrides)
    assert refused.value.field == field


def test_a_refused_invoice_leaves_no_audit_event(db, make):
    company = make.company()
    with pytest.raises(InvalidInvoice):
        _create(db, company, currency="XXXX")
    assert _events(db, company_id=company.id) == []


def test_a_due_date_on_the_issue_date_is_accepted(db, make):
    invoice = _create(db, make.company(), due_date=ISSUE_DATE)
    assert invoice.due_date == invoice.issue_date


def test_payments_beyond_the_total_raise_over_settlement(make):
    invoice = make.invoice(make.company(), total=10_000)
    make.payment(invoice, 9_000)
    with pytest.raises(OverSettlement):
        make.payment(invoice, 1_001)


def test_a_credit_note_and_payments_beyond_the_total_raise_over_settlement(make):
    invoice = make.invoice(make.company(), total=10_000)
    make.credit_note(invoice, 5_000)
    with pytest.raises(OverSettlement):
        make.payment(invoice, 5_001)
