"""Giving money back when the provider's answer is lost, never arrives, or is no; and refunding a credit.

Through the real refund services and the in-memory gateway: a refund stays pending until the
provider's record says how it ended, and only then moves any invoice's balance, once.
"""

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.models import AuditEvent, Payment, PaymentAttention, PaymentStatus, Refund, RefundStatus
from portal.payments import fake_gateway
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import OutcomeUnknown, PaymentError, RefundNotAllowed
from portal.payments.provider_events import handle_webhook, reconcile
from portal.payments.refunds import refund_allocation, refund_unallocated
from tests.payments.conftest import save_fake_card

STAFF = Actor.system("collections-tests")


@pytest.fixture
def company(make):
    return make.company()


@pytest.fixture
def payer(make, company):
    return make.user(company)


def pay(db, context, payer, company, invoices, *, attempt="a1"):
    return pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=payer.email,
                        request=PaymentRequest(invoice_ids=tuple(invoice.id for invoice in invoices),
                                               attempt_key=attempt))


def fresh(db, row):
    db.refresh(row)
    return row


def refund_whole(db, context, payment: Payment) -> Refund:
    [allocation] = payment.allocations
    return refund_allocation(db, context, STAFF, payment_id=payment.id, allocation_id=allocation.id,
                             amount=allocation.amount, reason="Paid twice")


def refunds_of(db, payment) -> list[Refund]:
    return list(db.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)))


def audit_count(db, payment, action) -> int:
    return db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.payment_id == payment.id, AuditEvent.action == action))


@pytest.fixture
def invoice(make, company):
    return make.invoice(company, total=100_00)


@pytest.fixture
def paid(db, context, gateway, company, payer, invoice) -> Payment:
    """A succeeded card payment of the whole 100.00 invoice."""
    save_fake_card(db, context, gateway, company, payer)
    payment = pay(db, context, payer, company, [invoice])
    assert payment.status == PaymentStatus.SUCCEEDED
    assert fresh(db, invoice).amount_paid == 100_00
    return payment


# --- An answer lost after the provider made the refund --------------------------------------------


@pytest.fixture
def lost_refund(db, context, gateway, paid) -> Refund:
    gateway.fail_after_next_call(OutcomeUnknown("timed out waiting for the processor"))
    refund = refund_whole(db, context, paid)
    assert len(gateway.refunds) == 1  # the provider made it
    return refund


def test_a_refund_whose_answer_was_lost_stays_pending_and_reopens_nothing(db, lost_refund, invoice):
    assert fresh(db, lost_refund).status == RefundStatus.PENDING
    assert (fresh(db, invoice).amount_paid, invoice.amount_due) == (100_00, 0)


def test_a_pending_refund_counts_as_made_so_the_same_money_cannot_be_refunded_twice(db, context, gateway, paid,
                                                                                  lost_refund):
    with pytest.raises(RefundNotAllowed, match="At most 0.00 EUR"):
        refund_whole(db, context, paid)

    assert len(gateway.refunds) == 1
    assert [refund.status for refund in refunds_of(db, paid)] == [RefundStatus.PENDING]


def test_reconcile_finds_a_refund_whose_answer_was_lost_and_reopens_the_invoice_once(db, context, gateway, paid,
                                                                                   invoice, lost_refund):
    first = reconcile(db, context)
    second = reconcile(db, context)

    assert (first.checked, first.settled, second.checked) == (1, 1, 0)
    refund = fresh(db, lost_refund)
    assert (refund.status, refund.provider_reference) == (RefundStatus.SUCCEEDED, next(iter(gateway.refunds)))
    assert (fresh(db, invoice).amount_paid, invoice.amount_due) == (0, 100_00)
    assert audit_count(db, paid, "refund.succeeded") == 1


def test_a_payment_webhook_after_a_refund_does_not_settle_the_invoice_again(db, context, gateway, paid, invoice,
                                                                           lost_refund):
    reconcile(db, context)

    handle_webhook(db, context, *gateway.send_event(paid.provider_reference))
    db.commit()

    assert (fresh(db, invoice).amount_paid, invoice.amount_due) == (0, 100_00)


# --- A refund that never reached the provider ----------------------------------------------------


@pytest.fixture
def unsent_refund(db, context, gateway, paid) -> Refund:
    gateway.fail_next_call(OutcomeUnknown("no route to the payment service"))
    refund = refund_whole(db, context, paid)
    assert gateway.refunds == {}
    return refund


def test_a_refund_that_never_reached_the_provider_stays_pending_within_the_time_limit(db, context, invoice,
                                                                                    unsent_refund):
    report = reconcile(db, context, now=unsent_refund.created_at + context.lost_after - timedelta(minutes=1))

    assert (report.checked, report.still_open) == (1, 1)
    assert fresh(db, unsent_refund).status == RefundStatus.PENDING
    assert fresh(db, invoice).amount_paid == 100_00


def test_a_refund_that_never_reached_the_provider_is_failed_after_the_time_limit_and_may_be_made_again(
        db, context, gateway, paid, invoice, unsent_refund):
    report = reconcile(db, context, now=unsent_refund.created_at + context.lost_after + timedelta(minutes=1))

    assert (report.checked, report.failed) == (1, 1)
    assert fresh(db, unsent_refund).status == RefundStatus.FAILED
    assert fresh(db, invoice).amount_paid == 100_00

    again = refund_whole(db, context, paid)

    assert again.status == RefundStatus.SUCCEEDED
    assert [refund.amount for refund in gateway.refunds.values()] == [100_00]
    assert (fresh(db, invoice).amount_paid, invoice.amount_due) == (0, 100_00)


# --- A refund the provider refuses ------------------------------------------------------------------


def test_a_refused_refund_is_failed_at_once_and_raises(db, context, gateway, paid, invoice):
    gateway.fail_next_call(PaymentError("no", code="x"))

    with pytest.raises(PaymentError, match="no") as refused:
        refund_whole(db, context, paid)

    assert refused.value.code == "x"
    [refund] = refunds_of(db, paid)
    assert (refund.status, refund.failure_message) == (RefundStatus.FAILED, "no")
    assert fresh(db, invoice).amount_paid == 100_00
    assert refund_whole(db, context, paid).status == RefundStatus.SUCCEEDED


# --- Refunding a payment's unallocated credit ----------------------------------------------------


@pytest.fixture
def overcharged_invoice(make, company):
    return make.invoice(company, total=100_00)


@pytest.fixture
def overcharged(db, context, gateway, company, payer, overcharged_invoice) -> Payment:
    """A payment of a 100.00 invoice the provider reports as 120.00 taken: a 120.00 credit settling nothing."""
    save_fake_card(db, context, gateway, company, payer)
    gateway.fail_after_next_call(OutcomeUnknown("connection reset"))
    payment = pay(db, context, payer, company, [overcharged_invoice], attempt="overcharged")
    charge = gateway.find_charge(payment_key=payment.idempotency_key, made_after=payment.created_at)
    gateway.charges[charge.reference] = dataclasses.replace(charge, amount=120_00)
    reconcile(db, context)
    payment = fresh(db, payment)
    assert (payment.status, payment.attention, payment.unallocated_amount) == (
        PaymentStatus.SUCCEEDED, PaymentAttention.AMOUNT_MISMATCH, 120_00)
    return payment


def test_an_unallocated_credit_can_be_refunded(db, context, gateway, overcharged):
    refund = refund_unallocated(db, context, STAFF, payment_id=overcharged.id, amount=120_00, reason="Overcharged")

    assert (refund.status, refund.allocation_id) == (RefundStatus.SUCCEEDED, None)
    [made] = gateway.refunds.values()
    assert (made.amount, made.metadata["charge"]) == (120_00, overcharged.provider_reference)


def test_no_more_than_the_unallocated_credit_can_be_refunded(db, context, gateway, overcharged):
    with pytest.raises(RefundNotAllowed):
        refund_unallocated(db, context, STAFF, payment_id=overcharged.id, amount=120_01)
    refund_unallocated(db, context, STAFF, payment_id=overcharged.id, amount=70_00)
    with pytest.raises(RefundNotAllowed, match="At most 50.00 EUR"):
        refund_unallocated(db, context, STAFF, payment_id=overcharged.id, amount=50_01)

    assert [refund.amount for refund in gateway.refunds.values()] == [70_00]


def test_refunding_an_unallocated_credit_changes_no_invoice_balance(db, context, paid, invoice, overcharged,
                                                                    overcharged_invoice):
    refund_unallocated(db, context, STAFF, payment_id=overcharged.id, amount=120_00)

    assert (fresh(db, overcharged_invoice).amount_paid, overcharged_invoice.amount_due) == (0, 100_00)
    assert (fresh(db, invoice).amount_paid, invoice.amount_due) == (100_00, 0)
    assert fresh(db, overcharged).unallocated_amount == 120_00


def test_a_late_success_credit_can_be_refunded_but_not_its_allocated_part(db, context, gateway, make, company,
                                                                         payer):
    """100.00 by card, failed at 3-D Secure; 40.00 paid by transfer; then the card charge reported succeeded."""
    save_fake_card(db, context, gateway, company, payer, fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=100_00)
    payment = pay(db, context, payer, company, [invoice])
    gateway.authenticate(payment.provider_reference, success=False)
    reconcile(db, context)  # the payment failed, the invoice is free
    assert fresh(db, payment).status == PaymentStatus.FAILED
    make.payment(invoice, 40_00)
    db.commit()
    gateway.authenticate(payment.provider_reference, success=True)
    handle_webhook(db, context, *gateway.send_event(payment.provider_reference))
    db.commit()
    payment = fresh(db, payment)
    assert (payment.attention, payment.allocated_amount, payment.unallocated_amount) == (
        PaymentAttention.LATE_SUCCESS, 60_00, 40_00)

    with pytest.raises(RefundNotAllowed):
        refund_unallocated(db, context, STAFF, payment_id=payment.id, amount=40_01)
    refund_unallocated(db, context, STAFF, payment_id=payment.id, amount=40_00)

    assert (fresh(db, invoice).amount_paid, invoice.amount_due) == (100_00, 0)
