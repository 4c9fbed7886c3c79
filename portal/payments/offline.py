"""Money received outside the portal: a bank transfer or a cheque, recorded by the collections team.

It is allocated through the same claims and row locks as a card payment (portal.payments.charging),
so it can never settle what a card payment is settling at that moment:

- the invoices are locked (SELECT ... FOR UPDATE) and read afresh before anything is checked;
- a claim is written for each of them, whose primary key is the invoice: a card payment in
  flight holds it already, and the transfer is refused rather than counted twice;
- what is owed is compared with the shares under that lock; a card payment that starts
  afterwards waits for the lock, then sizes itself on what is left.

Nothing leaves the database, so all of it is one transaction: the claims are taken and
released within it, and the caller commits once. A form submitted twice carries the same
attempt key: the second finds the payment the first recorded.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.balances import refresh_invoice_balance
from portal.billing.money import to_decimal
from portal.billing.payable import amount_owed
from portal.billing.status import amount_due_expression
from portal.db import run_as_writer
from portal.models import (
    Company,
    Invoice,
    InvoicePaymentClaim,
    OfflineMethod,
    Payment,
    PaymentChannel,
    PaymentStatus,
)
from portal.models.types import utcnow
from portal.payments.errors import PaymentError
from portal.payments.ledger import new_offline_payment, settle_payment
from portal.payments.settlement import release_claims

#: What the ledger and exports call each method (pages translate `offline_method` instead).
METHOD_SUMMARIES = {OfflineMethod.BANK_TRANSFER: "Bank transfer", OfflineMethod.CHEQUE: "Cheque"}


class OfflinePaymentRefused(PaymentError):
    """Money received could not be recorded, or cancelled, as asked; `code` and `details` say why.

    `details` carries what the message names (an invoice number, amounts in minor units), so a page
    can say the same in its own language.
    """

    code = "offline_payment_refused"

    def __init__(self, message: str, code: str, **details):
        super().__init__(message, code=code)
        self.details = details


@dataclass(frozen=True)
class MoneyReceived:
    """A bank transfer or cheque as staff enter it: the total, and each invoice's share of it, in minor units."""

    method: OfflineMethod
    reference: str
    received_on: date
    amount: int
    currency: str
    shares: tuple[tuple[int, int], ...]  # (invoice id, amount)
    attempt_key: str


def record_money_received(session: Session, actor: Actor, *, company: Company, received: MoneyReceived,
                          today: date) -> Payment:
    """Record `received` against the company's invoices and settle them, in a write transaction the caller commits.

    Raises `OfflinePaymentRefused` (nothing written) when the shares do not add up to the
    amount, an invoice is not the company's, owes less than its share, is in another
    currency, or a card payment of it is under way.
    """
    idempotency_key = f"offline-{company.id}-{received.attempt_key}"
    _check_entry(received, today)

    def record() -> Payment:
        existing = _payment_by_key(session, idempotency_key)
        if existing is not None:
            return existing
        invoices = _locked_invoices(session, company, [invoice_id for invoice_id, _ in received.shares])
        _check_currency(invoices, received)
        shares = dict(received.shares)
        try:
            with session.begin_nested():
                payment = new_offline_payment(
                    session, actor, company=company, method_summary=METHOD_SUMMARIES[received.method],
                    reference=received.reference.strip(), idempotency_key=idempotency_key,
                    offline_method=received.method, received_on=received.received_on,
                    allocations=[(invoice, shares[invoice.id]) for invoice in invoices])
        except IntegrityError:
            # The same form, submitted twice at once, was recorded by the other submission.
            existing = _payment_by_key(session, idempotency_key)
            if existing is None:
                raise
            return existing
        _claim(session, payment, invoices)
        _check_owed(invoices, shares)
        settle_payment(session, actor, payment)
        release_claims(session, payment)
        audit.record(session, "payment.recorded_offline", actor, company_id=company.id, payment_id=payment.id,
                     amount=payment.amount, currency=payment.currency, method=str(received.method),
                     reference=payment.payer_reference, received_on=received.received_on.isoformat(),
                     invoices=[invoice.number for invoice in invoices])
        return payment

    try:
        return run_as_writer(session, record)
    except OfflinePaymentRefused:
        session.rollback()
        raise


def cancel_money_received(session: Session, actor: Actor, *, payment_id: int, reason: str) -> Payment:
    """Take back a bank transfer or cheque recorded by mistake: its invoices owe again what it settled.

    The payment stays, marked cancelled with who did it and why, so the books and exports
    show both the entry and its reversal. The caller commits.
    """
    reason = reason.strip()
    if not reason:
        raise OfflinePaymentRefused("Say why the payment is cancelled.", "reason_required")
    try:
        return run_as_writer(session, lambda: _cancel(session, actor, payment_id, reason))
    except OfflinePaymentRefused:
        session.rollback()
        raise


def _cancel(session: Session, actor: Actor, payment_id: int, reason: str) -> Payment:
    payment = session.get(Payment, payment_id, with_for_update=True, populate_existing=True)
    if payment is None or payment.channel != PaymentChannel.OFFLINE or payment.status != PaymentStatus.SUCCEEDED:
        raise OfflinePaymentRefused("Only a recorded bank transfer or cheque can be cancelled.", "not_cancellable")
    invoices = _locked_invoices(session, payment.company, [allocation.invoice_id for allocation in payment.allocations])
    # What is owed must not change under a card payment being made: it is refused, as a credit note is.
    _claim(session, payment, invoices)
    payment.status = PaymentStatus.CANCELLED
    payment.cancelled_at = utcnow()
    payment.cancelled_by_user_id = actor.user_id
    payment.cancel_reason = reason
    for invoice in invoices:
        refresh_invoice_balance(session, invoice)
    release_claims(session, payment)
    audit.record(session, "payment.cancelled", actor, company_id=payment.company_id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency, reason=reason, reference=payment.reference)
    for allocation in payment.allocations:
        audit.record(session, "payment.cancelled", actor, company_id=payment.company_id,
                     invoice_id=allocation.invoice_id, payment_id=payment.id, amount=allocation.amount,
                     currency=payment.currency, reason=reason, reference=payment.reference)
    return payment


def _check_entry(received: MoneyReceived, today: date) -> None:
    if not received.shares:
        raise OfflinePaymentRefused("Choose at least one invoice.", "no_invoice")
    if len({invoice_id for invoice_id, _ in received.shares}) != len(received.shares):
        raise OfflinePaymentRefused("Each invoice can be chosen once.", "invoice_twice")
    if not received.reference.strip():
        raise OfflinePaymentRefused("Enter the transfer's reference or the cheque's number.", "reference_required")
    if received.received_on > today:
        raise OfflinePaymentRefused("The date received cannot be in the future.", "received_in_future")
    if received.amount <= 0 or any(share <= 0 for _, share in received.shares):
        raise OfflinePaymentRefused("Enter amounts greater than zero.", "amount_not_positive")
    allocated = sum(share for _, share in received.shares)
    if allocated != received.amount:
        raise OfflinePaymentRefused(
            f"The invoices' shares add up to {to_decimal(allocated, received.currency)}, not the "
            f"{to_decimal(received.amount, received.currency)} received.", "shares_do_not_add_up",
            allocated=allocated, amount=received.amount, currency=received.currency)


def _locked_invoices(session: Session, company: Company, invoice_ids: list[int]) -> list[Invoice]:
    """The company's issued invoices named, locked and read afresh, in id order (the order card payments lock in)."""
    invoices = list(session.scalars(
        select(Invoice)
        .where(Invoice.company_id == company.id, Invoice.id.in_(invoice_ids), Invoice.issued_at.is_not(None))
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ))
    if len(invoices) != len(set(invoice_ids)):
        raise OfflinePaymentRefused("One of these invoices is not this customer's.", "not_found")
    return invoices


def _check_currency(invoices: list[Invoice], received: MoneyReceived) -> None:
    for invoice in invoices:
        if invoice.currency != received.currency:
            raise OfflinePaymentRefused(
                f"Invoice {invoice.number} is in {invoice.currency}, not {received.currency}.", "wrong_currency",
                number=invoice.number, invoice_currency=invoice.currency, currency=received.currency)


def _check_owed(invoices: list[Invoice], shares: dict[int, int]) -> None:
    for invoice in invoices:
        owed = amount_owed(invoice)
        if owed <= 0:
            raise OfflinePaymentRefused(f"Invoice {invoice.number} owes nothing.", "nothing_owed",
                                        number=invoice.number)
        if shares[invoice.id] > owed:
            raise OfflinePaymentRefused(
                f"{to_decimal(shares[invoice.id], invoice.currency)} is more than the "
                f"{to_decimal(owed, invoice.currency)} still owed on invoice {invoice.number}.", "above_owed",
                number=invoice.number, share=shares[invoice.id], owed=owed, currency=invoice.currency)


def _claim(session: Session, payment: Payment, invoices: list[Invoice]) -> None:
    """Hold each invoice's claim for `payment`; refused, naming the invoice, while a card payment holds one."""
    busy = session.scalars(
        select(Invoice.number).join(InvoicePaymentClaim, InvoicePaymentClaim.invoice_id == Invoice.id)
        .where(Invoice.id.in_([invoice.id for invoice in invoices])).order_by(Invoice.number)
    ).first()
    if busy is None:
        try:
            with session.begin_nested():
                session.add_all(InvoicePaymentClaim(invoice_id=invoice.id, payment_id=payment.id)
                                for invoice in invoices)
            return
        except IntegrityError:
            pass
    raise OfflinePaymentRefused(
        "A card payment of one of these invoices is being made right now. Wait for it to end, "
        "then check what is still owed.", "payment_in_progress", number=busy)


def _payment_by_key(session: Session, idempotency_key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.idempotency_key == idempotency_key))


def invoices_open_for_receipt(session: Session, company: Company) -> list[Invoice]:
    """The company's invoices money received could settle: issued, not void, something owed; oldest due first."""
    return list(session.scalars(
        select(Invoice)
        .where(Invoice.company_id == company.id, Invoice.issued_at.is_not(None), Invoice.voided_at.is_(None),
               amount_due_expression() > 0)
        .order_by(Invoice.due_date, Invoice.id)
    ))
