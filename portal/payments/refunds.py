"""Giving money back: on one invoice's share of a card payment, or on a payment's unallocated credit.

As with charges, the refund row is committed before the provider is asked, and an answer
lost on the way leaves it pending, never failed: it may have been made. While it is
pending its amount counts as refunded for what may still be refunded, so a second click
cannot give the same money back twice; the reconcile job settles it from the provider's
record.
"""

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.recipients import recipients_for, unique_addresses
from portal.audit import Actor
from portal.billing.balances import refresh_invoice_balance
from portal.billing.money import Money
from portal.billing.payable import amount_owed
from portal.db import run_as_writer
from portal.mail import compose, outbox
from portal.models import (
    CARD_CHANNELS,
    Payment,
    PaymentAllocation,
    PaymentAttention,
    PaymentStatus,
    RecipientPurpose,
    Refund,
    RefundStatus,
)
from portal.models.types import utcnow
from portal.payments.context import PaymentContext
from portal.payments.errors import OutcomeUnknown, PaymentError, RefundNotAllowed
from portal.payments.gateway import RefundResult, RefundState
from portal.payments.settlement import flag_for_attention


def refund_allocation(session: Session, context: PaymentContext, actor: Actor, *, payment_id: int,
                      allocation_id: int, amount: int, reason: str = "", attempt_key: str | None = None) -> Refund:
    """Give back `amount` of what one invoice received from a card payment; reopens that much on it.

    Returns the refund succeeded, or pending when the provider's answer was lost; raises
    `RefundNotAllowed` before asking the provider, `PaymentError` when it refused. A confirmation
    submitted twice carries the same `attempt_key`: the second returns the first's refund.
    """
    def open_refund() -> tuple[Refund, bool]:
        allocation = session.get(PaymentAllocation, allocation_id, with_for_update=True)
        if allocation is None or allocation.payment_id != payment_id:
            raise RefundNotAllowed("No such payment line.", code="not_found")
        return _open_refund(session, actor, allocation.payment, allocation, amount, reason, attempt_key)

    return _make_refund(session, context, actor, *run_as_writer(session, open_refund))


def refund_unallocated(session: Session, context: PaymentContext, actor: Actor, *, payment_id: int,
                       amount: int, reason: str = "", attempt_key: str | None = None) -> Refund:
    """Give back `amount` of what a payment took that settles no invoice (money needing attention)."""
    def open_refund() -> tuple[Refund, bool]:
        payment = session.get(Payment, payment_id, with_for_update=True)
        if payment is None:
            raise RefundNotAllowed("No such payment.", code="not_found")
        return _open_refund(session, actor, payment, None, amount, reason, attempt_key)

    return _make_refund(session, context, actor, *run_as_writer(session, open_refund))


def ensure_refundable(session: Session, *, payment: Payment, allocation_id: int | None, amount: int) -> None:
    """Raise `RefundNotAllowed` now if the refund asked for could not be made, before staff are asked to confirm it."""
    allocation = None
    if allocation_id is not None:
        allocation = session.get(PaymentAllocation, allocation_id)
        if allocation is None or allocation.payment_id != payment.id:
            raise RefundNotAllowed("No such payment line.", code="not_found")
    _check_refundable(session, payment, allocation, amount)


def _open_refund(session: Session, actor: Actor, payment: Payment, allocation: PaymentAllocation | None,
                 amount: int, reason: str, attempt_key: str | None) -> tuple[Refund, bool]:
    """The refund to ask the provider for, and whether it is new (a repeated confirmation finds the first)."""
    idempotency_key = f"refund-{payment.id}-{attempt_key}" if attempt_key else f"refund-{uuid.uuid4()}"
    existing = session.scalar(select(Refund).where(Refund.idempotency_key == idempotency_key))
    if existing is not None:
        return existing, False
    _check_refundable(session, payment, allocation, amount)
    return _new_refund(session, actor, payment, allocation, amount, reason, idempotency_key), True


def _check_refundable(session: Session, payment: Payment, allocation: PaymentAllocation | None, amount: int) -> None:
    _refundable_payment(payment)
    if allocation is not None:
        _check_amount(amount, refundable_amount(session, allocation), payment.currency,
                      "can still be refunded on this invoice.", code="refund_above_refundable")
    else:
        _check_amount(amount, unallocated_refundable_amount(session, payment), payment.currency,
                      "of this payment's unallocated credit can still be refunded.", code="refund_above_unallocated")


def _refundable_payment(payment: Payment) -> Payment:
    if payment.status != PaymentStatus.SUCCEEDED or not payment.provider_reference or (
        payment.channel not in CARD_CHANNELS
    ):
        raise RefundNotAllowed("Only a succeeded card payment can be refunded here.", code="refund_not_card")
    return payment


def _check_amount(amount: int, refundable: int, currency: str, what: str, *, code: str) -> None:
    if amount <= 0 or amount > refundable:
        raise RefundNotAllowed(f"At most {Money(refundable, currency)} {what}", code=code, field="amount",
                               amount=Money(refundable, currency))


def _new_refund(session: Session, actor: Actor, payment: Payment, allocation: PaymentAllocation | None,
                amount: int, reason: str, idempotency_key: str) -> Refund:
    refund = Refund(payment=payment, allocation=allocation, amount=amount, idempotency_key=idempotency_key,
                    reason=reason, created_by_user_id=actor.user_id)
    session.add(refund)
    session.flush()
    audit.record(session, "refund.started", actor, company_id=payment.company_id,
                 invoice_id=allocation.invoice_id if allocation else None, payment_id=payment.id, amount=amount,
                 currency=payment.currency, reason=reason)
    return refund


def _make_refund(session: Session, context: PaymentContext, actor: Actor, refund: Refund, is_new: bool) -> Refund:
    session.commit()  # the refund row exists before the provider hears of it
    if not is_new:
        return refund
    charge_reference = refund.payment.provider_reference
    assert charge_reference is not None, "_refundable_payment lets only card payments, made at the provider, through"
    try:
        result = context.gateway.refund(
            reference=charge_reference, amount=refund.amount, idempotency_key=refund.idempotency_key,
            metadata={"refund_id": str(refund.id), "refund_key": refund.idempotency_key,
                      "payment_id": str(refund.payment_id)},
        )
    except OutcomeUnknown:
        run_as_writer(session, lambda: _audit_refund(session, "refund.outcome_unknown", actor, refund))
        session.commit()
        return refund
    except PaymentError as error:
        message, code = str(error), error.code
        run_as_writer(session, lambda: record_refund_failure(session, actor, refund, message, code=code))
        session.commit()
        raise
    run_as_writer(session, lambda: settle_refund_from_provider(session, context, actor, refund, result))
    session.commit()
    return refund


def settle_refund_from_provider(session: Session, context: PaymentContext, actor: Actor, refund: Refund,
                                result: RefundResult) -> None:
    """Bring `refund` in line with where it stands at the provider; safe to repeat."""
    session.refresh(refund, with_for_update=True)
    refund.checked_at = utcnow()
    refund.provider_reference = refund.provider_reference or result.reference
    match result.state:
        case RefundState.SUCCEEDED if refund.status != RefundStatus.SUCCEEDED:
            # Even one we had recorded as failed: the provider gave the money back, so the books
            # must say so, and a person must see whether it was given back twice.
            if refund.status == RefundStatus.FAILED:
                if refund.allocation is not None and refundable_amount(session, refund.allocation) < refund.amount:
                    # Staff refunded the invoice again meanwhile: the invoice cannot give back more
                    # than it received, so this one is counted against the payment as a whole.
                    refund.allocation = None
                flag_for_attention(session, actor, refund.payment, PaymentAttention.LATE_REFUND,
                                   refund_id=refund.id, refund_amount=refund.amount)
            refund.status = RefundStatus.SUCCEEDED
            refund.succeeded_at = utcnow()
            if refund.allocation is not None:
                refresh_invoice_balance(session, refund.allocation.invoice)
            _audit_refund(session, "refund.succeeded", actor, refund)
            send_refund_notice(session, context, refund)
        case RefundState.FAILED if refund.status == RefundStatus.PENDING:
            record_refund_failure(session, actor, refund, "The card processor could not make the refund.",
                                  code="refund_failed")


def send_refund_notice(session: Session, context: PaymentContext, refund: Refund) -> None:
    """Tell whoever paid, and the company's recipients who receive receipts, that money was given back."""
    payment = refund.payment
    company = payment.company
    recipients = unique_addresses([payment.receipt_email or ""] + [
        recipient.email for recipient in recipients_for(session, company.id, RecipientPurpose.RECEIPTS)])
    if not recipients:
        return
    invoice = refund.allocation.invoice if refund.allocation is not None else None
    message = compose.render(
        "refund_made", compose.company_locale(company), refund=refund, payment=payment, invoice=invoice,
        amount_due=amount_owed(invoice) if invoice is not None else None, supplier_name=context.supplier_name,
        invoice_url=f"{context.base_url}/invoices/{invoice.id}" if invoice is not None else None,
    )
    outbox.enqueue(session, recipients, message)


def record_refund_failure(session: Session, actor: Actor, refund: Refund, message: str, *, code: str) -> None:
    """Nothing was given back: what it was for may be refunded again."""
    refund.status = RefundStatus.FAILED
    refund.failure_message = message
    refund.failure_code = code
    _audit_refund(session, "refund.failed", actor, refund, reason=message)


def _audit_refund(session: Session, action: str, actor: Actor, refund: Refund, **details) -> None:
    audit.record(session, action, actor, company_id=refund.payment.company_id,
                 invoice_id=refund.allocation.invoice_id if refund.allocation else None,
                 payment_id=refund.payment_id, amount=refund.amount, currency=refund.payment.currency, **details)


def refundable_amount(session: Session, allocation: PaymentAllocation) -> int:
    """What may still be refunded on one invoice's share of a payment (pending refunds count as made)."""
    return allocation.amount - _refunded(session, Refund.allocation_id == allocation.id)


def unallocated_refundable_amount(session: Session, payment: Payment) -> int:
    """What may still be refunded of a payment's unallocated credit (pending refunds count as made)."""
    session.refresh(payment, ["refunds"])
    return payment.credit_left


def _refunded(session: Session, *conditions) -> int:
    return session.execute(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(*conditions, Refund.status != RefundStatus.FAILED)
    ).scalar_one()
