"""Deciding what a payment became from what the provider reports: the one place that does.

The pay request, the payer's page, the webhook and the reconcile job all hand what the
provider said to `settle_from_provider`, in any order and as often as they like. It never
loses money the provider took: a success reported for a payment we had marked failed is
recorded, applied to its invoices as far as they still owe it, and the rest kept as an
unallocated credit; either way the collections team is asked to look.
"""

import logging

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.recipients import recipients_for, unique_addresses
from portal.audit import Actor
from portal.billing.payable import amount_owed
from portal.mail import compose, outbox
from portal.models import (
    IN_FLIGHT_PAYMENT_STATUSES,
    Company,
    Invoice,
    InvoicePaymentClaim,
    Payment,
    PaymentAttention,
    PaymentChannel,
    PaymentStatus,
    RecipientPurpose,
)
from portal.models.types import utcnow
from portal.payments.context import PaymentContext
from portal.payments.gateway import Charge, ChargeStatus
from portal.payments.ledger import settle_payment

log = logging.getLogger(__name__)

NOT_MADE_MESSAGE = "The payment did not go through."


def settle_from_provider(session: Session, context: PaymentContext, actor: Actor, payment: Payment,
                         charge: Charge) -> None:
    """Bring `payment` in line with where its charge stands at the provider; safe to repeat, in any order."""
    session.refresh(payment, with_for_update=True)
    payment.checked_at = utcnow()
    if payment.provider_reference is None:
        payment.provider_reference = charge.reference
    elif payment.provider_reference != charge.reference:
        # We make one charge per payment, so a second one is a provider-side surprise; if it
        # took money, a person must find it.
        log.error("Charge %s reported for payment %s, which was charged as %s",
                  charge.reference, payment.id, payment.provider_reference)
        if charge.status == ChargeStatus.SUCCEEDED:
            flag_for_attention(session, actor, payment, PaymentAttention.UNEXPECTED_CHARGE,
                               charge=charge.reference, amount=charge.amount, currency=charge.currency)
        return
    match charge.status:
        case ChargeStatus.SUCCEEDED:
            _record_success(session, context, actor, payment, charge)
        case ChargeStatus.FAILED if payment.status in IN_FLIGHT_PAYMENT_STATUSES:
            record_failure(session, actor, payment, charge.failure_message or NOT_MADE_MESSAGE,
                           code=charge.failure_code or "canceled")
        case ChargeStatus.REQUIRES_ACTION if payment.status in IN_FLIGHT_PAYMENT_STATUSES:
            payment.status = PaymentStatus.REQUIRES_ACTION
        case ChargeStatus.PROCESSING if payment.status in IN_FLIGHT_PAYMENT_STATUSES:
            payment.status = PaymentStatus.PROCESSING


def _record_success(session: Session, context: PaymentContext, actor: Actor, payment: Payment,
                    charge: Charge) -> None:
    if payment.status == PaymentStatus.SUCCEEDED:
        return
    reported_failed = payment.status == PaymentStatus.FAILED
    invoices = _locked_invoices(session, payment)
    if (charge.amount, charge.currency) != (payment.amount, payment.currency) or any(
        invoice.currency != charge.currency for invoice in invoices
    ):
        # Never settle invoices on a figure that is not what was charged: the money is
        # recorded as taken, settles nothing, and a person decides.
        audit.record(session, "payment.amount_mismatch", actor, company_id=payment.company_id,
                     payment_id=payment.id, amount=charge.amount, currency=charge.currency,
                     expected_amount=payment.amount, expected_currency=payment.currency)
        payment.amount, payment.currency = charge.amount, charge.currency
        payment.allocations.clear()
        session.flush()
        flag_for_attention(session, actor, payment, PaymentAttention.AMOUNT_MISMATCH)
    else:
        trimmed = _fit_allocations_to_what_is_owed(session, payment)
        if reported_failed:
            flag_for_attention(session, actor, payment, PaymentAttention.LATE_SUCCESS)
        elif trimmed:
            flag_for_attention(session, actor, payment, PaymentAttention.OVERPAID)
    settle_payment(session, actor, payment)
    release_claims(session, payment)
    if payment.allocations:
        send_receipt(session, context, payment)


def _locked_invoices(session: Session, payment: Payment) -> list[Invoice]:
    return list(session.scalars(
        select(Invoice)
        .where(Invoice.id.in_([allocation.invoice_id for allocation in payment.allocations]))
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ))


def _fit_allocations_to_what_is_owed(session: Session, payment: Payment) -> bool:
    """Apply to each invoice no more than it still owes; returns whether anything was left over."""
    trimmed = False
    for allocation in list(payment.allocations):
        owed = amount_owed(allocation.invoice)
        if allocation.amount <= owed:
            continue
        trimmed = True
        if owed > 0:
            allocation.amount = owed
        else:
            payment.allocations.remove(allocation)
    session.flush()
    return trimmed


def flag_for_attention(session: Session, actor: Actor, payment: Payment, reason: PaymentAttention,
                       **details) -> None:
    """Put `payment` on the collections team's list of money needing attention, and say why in the audit log."""
    payment.attention = reason
    payment.attention_cleared_at = None
    audit.record(session, "payment.needs_attention", actor, company_id=payment.company_id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency, reason=str(reason),
                 allocated=payment.allocated_amount, **details)


def record_failure(session: Session, actor: Actor, payment: Payment, message: str, *, code: str) -> None:
    """The provider said no, or never heard of the payment: nothing was taken, its invoices are free again."""
    payment.status = PaymentStatus.FAILED
    payment.failure_message = message
    payment.failure_code = code
    release_claims(session, payment)
    audit.record(session, "payment.failed", actor, company_id=payment.company_id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency, reason=message, code=code)
    for allocation in payment.allocations:
        audit.record(session, "payment.failed", actor, company_id=payment.company_id,
                     invoice_id=allocation.invoice_id, payment_id=payment.id, amount=allocation.amount,
                     currency=payment.currency, reason=message)


def release_claims(session: Session, payment: Payment) -> None:
    session.execute(delete(InvoicePaymentClaim).where(InvoicePaymentClaim.payment_id == payment.id))


def send_receipt(session: Session, context: PaymentContext, payment: Payment) -> None:
    """The receipt, to whoever paid and to the company's recipients who receive receipts."""
    addresses = [payment.receipt_email] if payment.receipt_email else []
    addresses += [recipient.email for recipient in
                  recipients_for(session, payment.company_id, RecipientPurpose.RECEIPTS)]
    addresses = unique_addresses(addresses)
    if not addresses:
        return
    company = session.get_one(Company, payment.company_id)
    message = compose.render(
        "payment_receipt", compose.company_locale(company), payment=payment, company=company,
        allocations=[(allocation.invoice, allocation.amount) for allocation in payment.allocations],
        supplier_name=context.supplier_name,
        # A guest has no account to see it in: their receipt is the e-mail itself.
        receipt_url=f"{context.base_url}/payments/{payment.id}" if payment.channel != PaymentChannel.GUEST else None,
    )
    outbox.enqueue(session, addresses, message)


def clear_attention(session: Session, actor: Actor, payment: Payment, *, note: str) -> None:
    """The collections team has dealt with `payment` (refunded it, placed it, called the customer)."""
    if payment.attention is None or payment.attention_cleared_at is not None:
        return
    payment.attention_cleared_at = utcnow()
    audit.record(session, "payment.attention_cleared", actor, company_id=payment.company_id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency, reason=str(payment.attention), note=note)
