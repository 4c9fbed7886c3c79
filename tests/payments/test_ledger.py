"""Money received outside the portal: settled once, audited, and only against fitting invoices."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.balances import refresh_invoice_balance
from portal.billing.errors import InvalidInvoice
from portal.billing.invoices import LineInput, create_invoice
from portal.models import AuditEvent, Payment, PaymentAllocation, PaymentStatus
from portal.payments.ledger import record_offline_payment, settle_payment

ACTOR = Actor.system("tests")
RECEIVED = datetime(2026, 4, 2, 10, 0, tzinfo=UTC)


def _pay(db, company, allocations, **kwargs):
    return record_offline_payment(
        db, ACTOR, company=company, allocations=allocations, method_summary="Bank transfer", **kwargs
    )


def _actions(db, payment) -> list[tuple[str, int | None, int]]:
    db.flush()
    events = db.scalars(select(AuditEvent).where(AuditEvent.payment_id == payment.id).order_by(AuditEvent.id))
    return [(event.action, event.invoice_id, event.amount) for event in events]


def test_record_offline_payment_settles_the_payment_at_once(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    payment = _pay(db, company, [(invoice, 10_000)], reference="TRF-1", now=RECEIVED)
    assert (payment.status, payment.succeeded_at, payment.amount, payment.currency) == (
        PaymentStatus.SUCCEEDED, RECEIVED, 10_000, "EUR")
    assert payment.reference == "TRF-1"


def test_record_offline_payment_applies_each_allocation_to_its_invoice(db, make):
    company = make.company()
    first, second = make.invoice(company, total=10_000), make.invoice(company, total=8_000)
    payment = _pay(db, company, [(first, 10_000), (second, 3_000)])
    assert payment.amount == 13_000
    assert (first.amount_paid, first.amount_due) == (10_000, 0)
    assert (second.amount_paid, second.amount_due) == (3_000, 5_000)


def test_record_offline_payment_gives_every_payment_its_own_idempotency_key(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    first, second = _pay(db, company, [(invoice, 1_000)]), _pay(db, company, [(invoice, 1_000)])
    assert first.idempotency_key != second.idempotency_key


def test_settling_a_settled_payment_again_does_not_count_it_twice(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    payment = _pay(db, company, [(invoice, 4_000)])
    settle_payment(db, ACTOR, payment)
    assert (invoice.amount_paid, invoice.amount_due) == (4_000, 6_000)


def test_recomputing_an_invoice_balance_after_settlement_counts_each_payment_once(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    _pay(db, company, [(invoice, 4_000)])
    _pay(db, company, [(invoice, 1_000)])
    refresh_invoice_balance(db, invoice)
    refresh_invoice_balance(db, invoice)
    assert invoice.amount_paid == 5_000


def test_a_payment_not_yet_settled_does_not_count_towards_the_invoice(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    db.add(Payment(company_id=company.id, amount=10_000, currency="EUR", status=PaymentStatus.PROCESSING,
                   idempotency_key="card-attempt-1", allocations=[PaymentAllocation(invoice=invoice, amount=10_000)]))
    refresh_invoice_balance(db, invoice)
    assert invoice.amount_paid == 0


def test_settling_a_pending_payment_applies_it_to_its_invoice(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    payment = Payment(company_id=company.id, amount=10_000, currency="EUR", status=PaymentStatus.PROCESSING,
                      idempotency_key="card-attempt-2", allocations=[PaymentAllocation(invoice=invoice, amount=10_000)])
    db.add(payment)
    db.flush()
    settle_payment(db, ACTOR, payment, now=RECEIVED)
    assert (payment.status, invoice.amount_paid, invoice.amount_due) == (PaymentStatus.SUCCEEDED, 10_000, 0)


def test_settling_a_settled_payment_again_writes_no_more_audit_events(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    payment = _pay(db, company, [(invoice, 4_000)])
    before = _actions(db, payment)
    settle_payment(db, ACTOR, payment)
    assert _actions(db, payment) == before


def test_settling_a_settled_payment_again_keeps_its_first_settlement_time(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    payment = _pay(db, company, [(invoice, 4_000)], now=RECEIVED)
    settle_payment(db, ACTOR, payment, now=datetime(2026, 5, 1, tzinfo=UTC))
    assert payment.succeeded_at == RECEIVED


def test_record_offline_payment_writes_payment_succeeded_then_one_payment_allocated_per_invoice(db, make):
    company = make.company()
    first, second = make.invoice(company, total=10_000), make.invoice(company, total=8_000)
    payment = _pay(db, company, [(first, 10_000), (second, 3_000)])
    assert _actions(db, payment) == [
        ("payment.succeeded", None, 13_000),
        ("payment.allocated", first.id, 10_000),
        ("payment.allocated", second.id, 3_000),
    ]


def test_payment_audit_events_carry_the_company_currency_time_and_method(db, make):
    company = make.company()
    invoice = make.invoice(company, total=10_000)
    payment = _pay(db, company, [(invoice, 10_000)], now=RECEIVED)
    db.flush()
    events = db.scalars(select(AuditEvent).where(AuditEvent.payment_id == payment.id)).all()
    assert {(e.company_id, e.currency, e.occurred_at, e.details["method"]) for e in events} == {
        (company.id, "EUR", RECEIVED, "Bank transfer")
    }


def test_record_offline_payment_refuses_invoices_of_mixed_currencies(db, make):
    company = make.company()
    euros = make.invoice(company, total=10_000)
    dollars = create_invoice(
        db, ACTOR, company=company, number="INV-USD-1", issue_date=date(2026, 4, 1), due_date=date(2026, 5, 1),
        currency="USD", lines=[LineInput(description="x", quantity=Decimal(1), unit_amount=5_000, tax_rate=Decimal(0))],
    )
    with pytest.raises(InvalidInvoice) as refused:
        _pay(db, company, [(euros, 10_000), (dollars, 5_000)])
    assert refused.value.field == "allocations"


def test_record_offline_payment_refuses_another_company_invoice(db, make):
    company, neighbour = make.company(), make.company()
    theirs = make.invoice(neighbour, total=10_000)
    with pytest.raises(InvalidInvoice) as refused:
        _pay(db, company, [(theirs, 10_000)])
    assert refused.value.field == "allocations"


def test_a_refused_payment_leaves_no_payment_and_no_invoice_change(db, make):
    company, neighbour = make.company(), make.company()
    mine, theirs = make.invoice(company, total=10_000), make.invoice(neighbour, total=10_000)
    with pytest.raises(InvalidInvoice):
        _pay(db, company, [(mine, 5_000), (theirs, 5_000)])
    assert db.scalar(select(func.count()).select_from(Payment).where(Payment.company_id == company.id)) == 0
    assert (mine.amount_paid, theirs.amount_paid) == (0, 0)


def test_record_offline_payment_refuses_a_payment_with_no_allocations(db, make):
    with pytest.raises(InvalidInvoice):
        _pay(db, make.company(), [])
