"""Paying invoices by card, refunding, and keeping payments in step with the provider.

However often a payer clicks, however many tabs or retries, an invoice is never charged
twice. Three things make that so:

1. A payment row, with its idempotency key, is committed *before* the provider is called,
   and the key is unique in the database: a resubmitted form finds the payment it made.
2. While a payment is in flight, each of its invoices has an `InvoicePaymentClaim` whose
   primary key is the invoice id: a second payment of the same invoice fails at the
   database, not in a check that two requests could both pass.
3. What is due is re-read after the claims are taken, under a row lock, so over-payment
   is refused against the latest figures.

Because of (1) these functions commit, at the points marked; that is the one place the
rule "a request commits once, at its end" bends, and why.
"""

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.audit import Actor
from portal.billing.balances import refresh_invoice_balance
from portal.billing.money import to_decimal
from portal.disputes.service import undisputed_amounts_due
from portal.db import begin_write
from portal.mail import compose, outbox
from portal.models import (
    Company,
    Invoice,
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentChannel,
    PaymentStatus,
    ProcessedWebhookEvent,
    Refund,
    RefundStatus,
    SavedCard,
)
from portal.models.types import utcnow
from portal.payments.errors import (
    NoCard,
    PaymentDeclined,
    PaymentError,
    PaymentInProgress,
    PaymentNotAllowed,
    ProviderUnavailable,
    RefundNotAllowed,
)
from portal.payments.gateway import Charge, ChargeStatus, PaymentGateway
from portal.payments.ledger import settle_payment

log = logging.getLogger(__name__)

IN_FLIGHT = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION)
WRITE_RETRIES = 5


@dataclass(frozen=True)
class PaymentContext:
    """What the payment services need besides the database: the provider, and how to write receipts."""

    gateway: PaymentGateway
    supplier_name: str
    base_url: str


# Saved cards -----------------------------------------------------------------------------


def company_cards(session: Session, company_id: int) -> list[SavedCard]:
    """The company's usable cards, the default first."""
    return list(session.scalars(
        select(SavedCard)
        .where(SavedCard.company_id == company_id, SavedCard.removed_at.is_(None))
        .order_by(SavedCard.is_default.desc(), SavedCard.created_at.desc(), SavedCard.id.desc())
    ))


def start_saving_card(session: Session, context: PaymentContext, *, company: Company, email: str | None):
    """Begin saving a card for the company: the page completes it with Stripe.js."""
    if company.provider_customer_id is None:
        company.provider_customer_id = context.gateway.create_customer(
            name=company.name, email=email, company_ref=company.external_ref
        )
        session.flush()
    return context.gateway.start_card_setup(customer_id=company.provider_customer_id)


def finish_saving_card(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                       setup_id: str) -> SavedCard:
    """Record the card the browser saved; the company's first card becomes its default."""
    if company.provider_customer_id is None:
        raise PaymentError("Start by adding a card.", code="setup_incomplete")
    details = context.gateway.finish_card_setup(customer_id=company.provider_customer_id, setup_id=setup_id)
    card = session.scalar(select(SavedCard).where(SavedCard.provider_id == details.provider_id))
    if card is not None:
        if card.company_id != company.id:
            raise PaymentError("This card belongs to someone else.", code="setup_mismatch")
        return card
    has_default = session.scalar(
        select(func.count()).where(SavedCard.company_id == company.id, SavedCard.removed_at.is_(None),
                                   SavedCard.is_default.is_(True))
    )
    card = SavedCard(company_id=company.id, provider_id=details.provider_id, brand=details.brand,
                     last4=details.last4, exp_month=details.exp_month, exp_year=details.exp_year,
                     is_default=not has_default, saved_by_user_id=actor.user_id)
    session.add(card)
    session.flush()
    audit.record(session, "card.saved", actor, company_id=company.id, card=f"{card.brand} {card.last4}")
    return card


def set_default_card(session: Session, actor: Actor, *, company: Company, card_id: int) -> SavedCard:
    card = _company_card(session, company, card_id)
    for other in company_cards(session, company.id):
        other.is_default = other.id == card.id
    audit.record(session, "card.default", actor, company_id=company.id, card=f"{card.brand} {card.last4}")
    return card


def remove_card(session: Session, context: PaymentContext, actor: Actor, *, company: Company, card_id: int) -> None:
    """Forget a card here and at the provider; another card becomes the default."""
    card = _company_card(session, company, card_id)
    context.gateway.detach_card(card_id=card.provider_id)
    card.removed_at = utcnow()
    was_default, card.is_default = card.is_default, False
    audit.record(session, "card.removed", actor, company_id=company.id, card=f"{card.brand} {card.last4}")
    remaining = company_cards(session, company.id)
    if was_default and remaining:
        remaining[0].is_default = True


def _company_card(session: Session, company: Company, card_id: int | None) -> SavedCard:
    statement = select(SavedCard).where(SavedCard.company_id == company.id, SavedCard.removed_at.is_(None))
    if card_id is None:
        statement = statement.where(SavedCard.is_default.is_(True))
    else:
        statement = statement.where(SavedCard.id == card_id)
    card = session.scalar(statement)
    if card is None and card_id is not None:
        raise PaymentNotAllowed("No such card.", code="not_found")
    if card is None:
        raise NoCard("Add a card first, or choose one of your saved cards.")
    return card


# Paying ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRequest:
    """What a payer asked for: invoices, optionally part of a single one, with a card."""

    invoice_ids: tuple[int, ...]
    attempt_key: str
    amount: int | None = None
    card_id: int | None = None


def pay_invoices(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                 request: PaymentRequest, receipt_email: str | None) -> Payment:
    """Charge a saved card for the invoices in `request`; returns the payment in whatever state it reached.

    A request with an `attempt_key` already used returns that attempt's payment and charges
    nothing. Raises `PaymentInProgress` or `PaymentNotAllowed` before anything is charged.
    """
    idempotency_key = f"pay-{company.id}-{request.attempt_key}"
    existing = _payment_by_key(session, idempotency_key)
    if existing is not None:
        return existing
    card = _company_card(session, company, request.card_id)
    source = ChargeSource(customer_id=company.provider_customer_id, card_id=card.provider_id,
                          summary=f"{card.brand.title()} •••• {card.last4}", saved_card_id=card.id,
                          channel=PaymentChannel.PORTAL)
    return charge_invoices(session, context, actor, company=company, request=request, source=source,
                           idempotency_key=idempotency_key, receipt_email=receipt_email)


@dataclass(frozen=True)
class ChargeSource:
    """What to charge: a company's saved card, or the card a guest just entered."""

    customer_id: str | None
    card_id: str
    summary: str
    channel: str
    saved_card_id: int | None = None


def charge_invoices(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                    request: PaymentRequest, source: ChargeSource, idempotency_key: str,
                    receipt_email: str | None) -> Payment:
    """Open the payment (claims, checks), commit it, then charge `source`; see the module's guarantees."""
    try:
        payment = _with_write_retries(session, lambda: _open_payment(
            session, actor, company=company, request=request, source=source, idempotency_key=idempotency_key,
            receipt_email=receipt_email))
    except _DuplicateAttempt:
        return _payment_by_key(session, idempotency_key)
    except (PaymentInProgress, PaymentNotAllowed):
        # The same form, submitted twice at once, may have been paid between the first
        # look-up and this refusal ("already paid"): it is shown that payment, not refused.
        existing = _payment_by_key(session, idempotency_key)
        if existing is not None:
            return existing
        raise
    session.commit()  # (1) the payment row exists before the provider hears of it

    try:
        charge = context.gateway.charge(
            customer_id=source.customer_id, card_id=source.card_id, amount=payment.amount,
            currency=payment.currency, idempotency_key=idempotency_key,
            metadata={"payment_id": str(payment.id), "company_ref": company.external_ref}, off_session=False,
        )
    except ProviderUnavailable:
        # The charge may or may not have happened: keep the claims and let reconciliation decide.
        log.warning("Provider did not answer for payment %s; left processing", payment.id)
        return payment
    except PaymentError as error:
        _with_write_retries(session, lambda: _record_failure(session, actor, payment, str(error)))
        session.commit()
        return payment
    # The card is charged: recording that must not fail for want of the database's write lock.
    _with_write_retries(session, lambda: apply_charge(session, context, actor, payment, charge))
    session.commit()
    return payment


class _DuplicateAttempt(Exception):
    pass


def _open_payment(session, actor, *, company, request, source, idempotency_key, receipt_email) -> Payment:
    if not request.invoice_ids:
        raise PaymentNotAllowed("Choose at least one invoice to pay.")
    if request.amount is not None and len(request.invoice_ids) != 1:
        raise PaymentNotAllowed("A partial amount can only be paid on a single invoice.")
    invoices = _invoices_to_pay(session, company, request)
    amounts = [request.amount] if request.amount is not None else _undisputed_amounts(session, invoices)
    payment = Payment(company_id=company.id, amount=sum(amounts), currency=invoices[0].currency,
                      status=PaymentStatus.PROCESSING, idempotency_key=idempotency_key,
                      method_summary=source.summary, saved_card_id=source.saved_card_id, channel=source.channel,
                      created_by_user_id=actor.user_id, receipt_email=receipt_email,
                      allocations=[PaymentAllocation(invoice=invoice, amount=amount)
                                   for invoice, amount in zip(invoices, amounts)])
    session.add(payment)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise _DuplicateAttempt() from None
    session.add_all(InvoicePaymentClaim(invoice_id=invoice.id, payment_id=payment.id) for invoice in invoices)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise PaymentInProgress("A payment of one of these invoices is already under way. "
                                "Wait for it to finish, then check what is still due.") from None
    # (3) Now that no other payment can claim these invoices, re-read them under lock: a
    # payment that settled since the first read must not be paid again.
    fresh = _invoices_to_pay(session, company, request)
    if request.amount is None and _undisputed_amounts(session, fresh) != amounts:
        session.rollback()
        raise PaymentNotAllowed("What is due on these invoices has just changed. Check it and try again.")
    audit.record(session, "payment.started", actor, company_id=company.id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency,
                 invoices=[invoice.number for invoice in invoices])
    return payment


def _invoices_to_pay(session: Session, company: Company, request: "PaymentRequest") -> list[Invoice]:
    """The company's invoices named in `request`, locked and freshly read; refused if any cannot be paid so."""
    invoices = list(session.scalars(
        select(Invoice)
        .where(Invoice.company_id == company.id, Invoice.id.in_(request.invoice_ids),
               Invoice.issued_at.is_not(None))
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ))
    problem = _refusal(invoices, request, undisputed_amounts_due(session, invoices))
    if problem:
        session.rollback()
        raise PaymentNotAllowed(problem)
    return invoices


def _undisputed_amounts(session: Session, invoices: list[Invoice]) -> list[int]:
    # An active dispute holds its amount back: only the rest of what is due is charged.
    payable = undisputed_amounts_due(session, invoices)
    return [payable[invoice.id] for invoice in invoices]


def _refusal(invoices: list[Invoice], request: PaymentRequest, payable: dict[int, int]) -> str | None:
    if len(invoices) != len(set(request.invoice_ids)):
        return "One of these invoices cannot be found."
    for invoice in invoices:
        if invoice.voided_at is not None:
            return f"Invoice {invoice.number} is void: there is nothing to pay."
        if invoice.amount_due <= 0:
            return f"Invoice {invoice.number} is already paid."
        if payable[invoice.id] <= 0:
            return (f"All that is due on invoice {invoice.number} is disputed: "
                    "it can be paid once the dispute is resolved.")
    if len({invoice.currency for invoice in invoices}) > 1:
        return "Invoices in different currencies must be paid separately."
    if request.amount is not None:
        if request.amount <= 0:
            return "Enter an amount greater than zero."
        if request.amount > payable[invoices[0].id]:
            due = to_decimal(payable[invoices[0].id], invoices[0].currency)
            if payable[invoices[0].id] < invoices[0].amount_due:
                return (f"That is more than the {due} {invoices[0].currency} that can be paid on invoice "
                        f"{invoices[0].number}: the rest is disputed.")
            return f"That is more than the {due} {invoices[0].currency} still due on invoice {invoices[0].number}."
    return None


def _payment_by_key(session: Session, idempotency_key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.idempotency_key == idempotency_key))


def _with_write_retries(session: Session, work):
    """Run `work` in a fresh transaction begun as a writer, again if SQLite still reports its lock busy.

    PostgreSQL waits on row locks instead. On SQLite the transaction takes the write lock
    before it reads anything (`begin_write`), so no other writer can overtake its snapshot;
    the retries remain for a lock held longer than the busy timeout.
    """
    session.commit()
    for attempt in range(WRITE_RETRIES):
        begin_write(session)
        try:
            return work()
        except OperationalError as error:
            session.rollback()
            if "locked" not in str(error).lower() or attempt == WRITE_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def apply_charge(session: Session, context: PaymentContext, actor: Actor, payment: Payment, charge: Charge) -> None:
    """Bring `payment` in line with where its charge stands at the provider; safe to repeat."""
    session.refresh(payment, with_for_update=True)
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
        return
    if payment.provider_reference is None:
        payment.provider_reference = charge.reference
    match charge.status:
        case ChargeStatus.SUCCEEDED:
            if (charge.amount, charge.currency) != (payment.amount, payment.currency):
                # Never settle invoices on a figure that is not what was charged: a person must look.
                audit.record(session, "payment.amount_mismatch", actor, company_id=payment.company_id,
                             payment_id=payment.id, amount=charge.amount, currency=charge.currency)
                payment.status = PaymentStatus.PROCESSING
                return
            settle_payment(session, actor, payment)
            _release_claims(session, payment)
            _send_receipt(session, context, payment)
        case ChargeStatus.REQUIRES_ACTION:
            payment.status = PaymentStatus.REQUIRES_ACTION
        case ChargeStatus.PROCESSING:
            payment.status = PaymentStatus.PROCESSING
        case ChargeStatus.FAILED:
            _record_failure(session, actor, payment, charge.failure_message or "The payment did not go through.")


def _record_failure(session: Session, actor: Actor, payment: Payment, message: str) -> None:
    payment.status = PaymentStatus.FAILED
    payment.failure_message = message
    _release_claims(session, payment)
    audit.record(session, "payment.failed", actor, company_id=payment.company_id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency, reason=message)
    for allocation in payment.allocations:
        audit.record(session, "payment.failed", actor, company_id=payment.company_id,
                     invoice_id=allocation.invoice_id, payment_id=payment.id, amount=allocation.amount,
                     currency=payment.currency, reason=message)


def _release_claims(session: Session, payment: Payment) -> None:
    session.execute(delete(InvoicePaymentClaim).where(InvoicePaymentClaim.payment_id == payment.id))


def _send_receipt(session: Session, context: PaymentContext, payment: Payment) -> None:
    if not payment.receipt_email:
        return
    company = session.get(Company, payment.company_id)
    message = compose.render(
        "payment_receipt", company.locale, payment=payment, company=company,
        allocations=[(allocation.invoice, allocation.amount) for allocation in payment.allocations],
        supplier_name=context.supplier_name,
        # A guest has no account to see it in: their receipt is the e-mail itself.
        receipt_url=f"{context.base_url}/payments/{payment.id}" if payment.channel == PaymentChannel.PORTAL else None,
    )
    outbox.enqueue(session, [payment.receipt_email], message)


def company_payment(session: Session, company_id: int, payment_id: int) -> Payment:
    """One of the company's payments, or `PaymentNotAllowed` (never another company's)."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id, Payment.company_id == company_id))
    if payment is None:
        raise PaymentNotAllowed("No such payment.", code="not_found")
    return payment


def check_after_authentication(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                               payment_id: int) -> Payment:
    """After 3-D Secure on the page, ask the provider how the charge ended and apply it."""
    payment = company_payment(session, company.id, payment_id)
    if payment.status in IN_FLIGHT and payment.provider_reference:
        apply_charge(session, context, actor, payment, context.gateway.retrieve_charge(payment.provider_reference))
        session.commit()
    return payment


def cancel_payment(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                   payment_id: int) -> Payment:
    """Abandon a payment still waiting for 3-D Secure, freeing its invoices."""
    payment = company_payment(session, company.id, payment_id)
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return payment
    charge = context.gateway.cancel_charge(payment.provider_reference)
    apply_charge(session, context, actor, payment, charge)
    session.commit()
    return payment


# Refunds ---------------------------------------------------------------------------------


def refund_allocation(session: Session, context: PaymentContext, actor: Actor, *, payment_id: int,
                      allocation_id: int, amount: int, reason: str = "") -> Refund:
    """Give back `amount` of what one invoice received from a card payment; reopens that much on it."""
    allocation = session.get(PaymentAllocation, allocation_id, with_for_update=True)
    if allocation is None or allocation.payment_id != payment_id:
        raise RefundNotAllowed("No such payment line.")
    payment = allocation.payment
    if payment.status != PaymentStatus.SUCCEEDED or not payment.provider_reference or payment.channel not in (
        PaymentChannel.PORTAL, PaymentChannel.GUEST
    ):
        raise RefundNotAllowed("Only a succeeded card payment can be refunded here.")
    refundable = refundable_amount(session, allocation)
    if amount <= 0 or amount > refundable:
        raise RefundNotAllowed(f"At most {to_decimal(refundable, payment.currency)} {payment.currency} "
                               "can still be refunded on this invoice.")
    refund = Refund(allocation=allocation, amount=amount, idempotency_key=f"refund-{uuid.uuid4()}",
                    reason=reason, created_by_user_id=actor.user_id)
    session.add(refund)
    session.flush()
    audit.record(session, "refund.started", actor, company_id=payment.company_id, invoice_id=allocation.invoice_id,
                 payment_id=payment.id, amount=amount, currency=payment.currency, reason=reason)
    session.commit()  # (1) the refund row exists before the provider hears of it
    try:
        result = context.gateway.refund(reference=payment.provider_reference, amount=amount,
                                        idempotency_key=refund.idempotency_key,
                                        metadata={"refund_id": str(refund.id), "payment_id": str(payment.id)})
    except PaymentError as error:
        refund.status = RefundStatus.FAILED
        refund.failure_message = str(error)
        audit.record(session, "refund.failed", actor, company_id=payment.company_id,
                     invoice_id=allocation.invoice_id, payment_id=payment.id, amount=amount,
                     currency=payment.currency, reason=str(error))
        session.commit()
        raise
    refund.provider_reference = result.reference
    refund.status = RefundStatus.SUCCEEDED if result.succeeded else RefundStatus.PENDING
    refresh_invoice_balance(session, allocation.invoice)
    audit.record(session, "refund.succeeded", actor, company_id=payment.company_id,
                 invoice_id=allocation.invoice_id, payment_id=payment.id, amount=amount, currency=payment.currency)
    session.commit()
    return refund


# Provider events and reconciliation ------------------------------------------------------


def handle_webhook(session: Session, context: PaymentContext, payload: bytes, signature: str | None) -> str:
    """Verify and apply one provider event, once; returns what happened ("applied", "duplicate", "ignored")."""
    event = context.gateway.parse_webhook(payload, signature)
    try:
        with session.begin_nested():
            session.add(ProcessedWebhookEvent(event_id=event.event_id, event_type=event.event_type))
    except IntegrityError:
        return "duplicate"
    if event.charge is None or event.event_type not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return "ignored"
    payment = _payment_for_charge(session, event.charge)
    if payment is None:
        log.warning("Provider event %s names no payment of ours", event.event_id)
        return "ignored"
    apply_charge(session, context, Actor.system("webhook"), payment, event.charge)
    return "applied"


def _payment_for_charge(session: Session, charge: Charge) -> Payment | None:
    payment = session.scalar(select(Payment).where(Payment.provider_reference == charge.reference))
    if payment is None and charge.metadata.get("payment_id", "").isdigit():
        payment = session.get(Payment, int(charge.metadata["payment_id"]))
    return payment


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    failed: int = 0
    still_open: int = 0
    errors: int = 0


def reconcile_payments(session: Session, context: PaymentContext, *, now: datetime | None = None,
                       abandon_after: timedelta = timedelta(minutes=30),
                       lost_after: timedelta = timedelta(minutes=10)) -> ReconcileReport:
    """Ask the provider about every payment still in flight and settle or fail it.

    A charge waiting for 3-D Secure longer than `abandon_after` is canceled; a payment the
    provider never heard of after `lost_after` failed before reaching it.
    """
    now = now or utcnow()
    report = ReconcileReport()
    actor = Actor.system("reconcile")
    payment_ids = list(session.scalars(
        select(Payment.id).where(Payment.status.in_(IN_FLIGHT)).order_by(Payment.id)
    ))
    for payment_id in payment_ids:
        payment = session.get(Payment, payment_id)
        report.checked += 1
        try:
            charge = (context.gateway.retrieve_charge(payment.provider_reference) if payment.provider_reference
                      else context.gateway.find_charge(payment_id=payment.id))
            if charge is None:
                if now - payment.created_at > lost_after:
                    _record_failure(session, actor, payment, "The payment never reached the card processor.")
            elif charge.status == ChargeStatus.REQUIRES_ACTION and now - payment.created_at > abandon_after:
                apply_charge(session, context, actor, payment, context.gateway.cancel_charge(charge.reference))
            else:
                apply_charge(session, context, actor, payment, charge)
        except ProviderUnavailable:
            log.warning("Provider unavailable while reconciling payment %s", payment.id)
        except Exception:
            # One payment the provider or our data cannot explain must not keep the others in flight.
            log.exception("Could not reconcile payment %s; left as it was", payment_id)
            session.rollback()
            report.errors += 1
            continue
        session.commit()
        report.settled += payment.status == PaymentStatus.SUCCEEDED
        report.failed += payment.status == PaymentStatus.FAILED
        report.still_open += payment.status in IN_FLIGHT
    return report


def company_payments(session: Session, company_id: int, *, limit: int = 200) -> list[Payment]:
    """The company's card and bank payments, newest first, with the invoices they settle."""
    return list(session.scalars(
        select(Payment)
        .where(Payment.company_id == company_id)
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    ))


def authentication_secret(context: PaymentContext, payment: Payment) -> str | None:
    """What the page needs to finish 3-D Secure for `payment`, if the provider still waits for it."""
    if payment.status != PaymentStatus.REQUIRES_ACTION or not payment.provider_reference:
        return None
    charge = context.gateway.retrieve_charge(payment.provider_reference)
    return charge.client_secret if charge.status == ChargeStatus.REQUIRES_ACTION else None


def recent_payments(session: Session, *, limit: int = 200) -> list[Payment]:
    """Every company's payments, newest first, for the collections team."""
    return list(session.scalars(
        select(Payment)
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice),
                 selectinload(Payment.company))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    ))


def payment_or_none(session: Session, payment_id: int) -> Payment | None:
    """Any company's payment, for the collections team."""
    return session.get(Payment, payment_id)


def refundable_amount(session: Session, allocation: PaymentAllocation) -> int:
    """What may still be refunded on one invoice's share of a payment."""
    already = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0))
        .where(Refund.allocation_id == allocation.id, Refund.status != RefundStatus.FAILED)
    )
    return allocation.amount - already
