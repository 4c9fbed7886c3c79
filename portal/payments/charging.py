"""Paying invoices by card: with a company's saved card, or the card a guest just entered.

However often a payer clicks, however many tabs or retries, however the provider fails, an
invoice is never charged twice. Four things make that so:

1. A payment row, with its idempotency key, is committed *before* the provider is called,
   and the key is unique in the database: a resubmitted form finds the payment it made.
2. While a payment is in flight, each of its invoices has an `InvoicePaymentClaim` whose
   primary key is the invoice id: a second payment of the same invoice fails at the
   database, not in a check that two requests could both pass.
3. What is due is re-read after the claims are taken, under a row lock, so over-payment
   is refused against the latest figures.
4. When the provider's answer is lost (a server error, a timeout, a dropped connection),
   the payment stays in flight with its claims held: it may have been charged. Only the
   provider's record, asked later (portal.payments.provider_events), settles it.

Because of (1) these functions commit, at the points marked; that is the one place the
rule "a request commits once, at its end" bends, and why.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.money import Money
from portal.billing.payable import amount_owed, undisputed_amounts_due
from portal.db import run_as_writer
from portal.models import (
    Company,
    Invoice,
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentChannel,
    PaymentStatus,
)
from portal.models.types import utcnow
from portal.payments.cards import card_summary, company_card
from portal.payments.context import PaymentContext
from portal.payments.errors import OutcomeUnknown, PaymentError, PaymentInProgress, PaymentNotAllowed
from portal.payments.gateway import ChargeStatus
from portal.payments.provider_events import check_payment
from portal.payments.queries import company_payment
from portal.payments.settlement import record_failure, settle_from_provider

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentRequest:
    """What a payer asked for: invoices, optionally part of a single one, with a card."""

    invoice_ids: tuple[int, ...]
    attempt_key: str
    amount: int | None = None
    card_id: int | None = None
    # What the payer (or an approver) saw and agreed to: refused, under the invoices' lock, if
    # the charge would now be any other amount.
    expected_total: int | None = None
    # What the payer was shown for each invoice, in `invoice_ids`' order: charged only if that is still what is due.
    expected_amounts: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ChargeSource:
    """What to charge: a company's saved card, or the card a guest just entered."""

    customer_id: str | None
    card_id: str
    summary: str
    channel: str
    saved_card_id: int | None = None
    # Charged with nobody at the page (autopay): the bank may then refuse what needs the cardholder.
    off_session: bool = False


def pay_invoices(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                 request: PaymentRequest, receipt_email: str | None) -> Payment:
    """Charge a saved card for the invoices in `request`; returns the payment in whatever state it reached.

    A request with an `attempt_key` already used returns that attempt's payment and charges
    nothing. Raises `PaymentInProgress` or `PaymentNotAllowed` before anything is charged.
    """
    idempotency_key = _attempt_key(company, request.attempt_key)
    existing = _payment_by_key(session, idempotency_key)
    if existing is not None:
        return existing
    card = company_card(session, company, request.card_id)
    source = ChargeSource(customer_id=company.provider_customer_id, card_id=card.provider_id,
                          summary=card_summary(card), saved_card_id=card.id,
                          channel=PaymentChannel.PORTAL)
    return charge_invoices(session, context, actor, company=company, request=request, source=source,
                           idempotency_key=idempotency_key, receipt_email=receipt_email)


def charge_invoices(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                    request: PaymentRequest, source: ChargeSource, idempotency_key: str,
                    receipt_email: str | None) -> Payment:
    """Open the payment (claims, checks), commit it, then charge `source`; see the module's guarantees."""
    _free_abandoned_claims(session, context, request.invoice_ids)
    try:
        payment = run_as_writer(session, lambda: _open_payment(
            session, actor, company=company, request=request, source=source, idempotency_key=idempotency_key,
            receipt_email=receipt_email))
    except _DuplicateAttempt:
        # The same attempt was recorded first by another request: answer with that one.
        return session.execute(select(Payment).where(Payment.idempotency_key == idempotency_key)).scalar_one()
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
            currency=payment.currency, idempotency_key=idempotency_key, off_session=source.off_session,
            metadata={"payment_id": str(payment.id), "payment_key": idempotency_key,
                      "company_ref": company.external_ref},
        )
    except OutcomeUnknown:
        # (4) It may have been charged: keep the claims and let the provider's record decide.
        log.warning("No answer from the provider for payment %s; its outcome is being checked", payment.id)
        run_as_writer(session, lambda: audit.record(
            session, "payment.outcome_unknown", actor, company_id=payment.company_id, payment_id=payment.id,
            amount=payment.amount, currency=payment.currency))
        session.commit()
        return payment
    except PaymentError as error:
        message, code = str(error), error.code
        run_as_writer(session, lambda: record_failure(session, actor, payment, message, code=code))
        session.commit()
        return payment
    # The card may be charged: recording that must not fail for want of the database's write lock.
    run_as_writer(session, lambda: settle_from_provider(session, context, actor, payment, charge))
    session.commit()
    return payment


class _DuplicateAttempt(Exception):
    pass


def amounts_to_charge(session: Session, company: Company, request: PaymentRequest) -> tuple[list[Invoice], list[int]]:
    """The invoices `request` names (locked) and what paying it now would charge on each;
    `PaymentNotAllowed`, rolling back, when paying it would be refused."""
    if not request.invoice_ids:
        raise PaymentNotAllowed("Choose at least one invoice to pay.", code="no_invoice_chosen")
    if request.amount is not None and len(request.invoice_ids) != 1:
        raise PaymentNotAllowed("A partial amount can only be paid on a single invoice.",
                                code="part_payment_of_several")
    invoices = _invoices_to_pay(session, company, request)
    return invoices, [request.amount] if request.amount is not None else _payable_amounts(session, invoices)


def _open_payment(session, actor, *, company, request, source, idempotency_key, receipt_email) -> Payment:
    invoices, amounts = amounts_to_charge(session, company, request)
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
    if (request.amount is None and _payable_amounts(session, fresh) != amounts) or (
            request.expected_total is not None and payment.amount != request.expected_total) or (
            request.expected_amounts is not None
            and _shown_order(invoices, request.invoice_ids, request.expected_amounts) != amounts):
        session.rollback()
        raise PaymentNotAllowed("What is due on these invoices has just changed. Check it and try again.",
                                code="amounts_changed")
    audit.record(session, "payment.started", actor, company_id=company.id, payment_id=payment.id,
                 amount=payment.amount, currency=payment.currency,
                 invoices=[invoice.number for invoice in invoices])
    return payment


def _shown_order(invoices: list[Invoice], invoice_ids: tuple[int, ...], expected_amounts: tuple[int, ...]) -> list[int]:
    """The amounts the payer was shown, in the order of `invoices` (by id, as they are locked)."""
    shown = dict(zip(invoice_ids, expected_amounts))
    return [shown[invoice.id] for invoice in invoices]


def _invoices_to_pay(session: Session, company: Company, request: PaymentRequest) -> list[Invoice]:
    """The company's invoices named in `request`, locked and freshly read; refused if any cannot be paid so."""
    invoices = list(session.scalars(
        select(Invoice)
        .where(Invoice.company_id == company.id, Invoice.id.in_(request.invoice_ids),
               Invoice.issued_at.is_not(None))
        .order_by(Invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ))
    refusal = _refusal(invoices, request, undisputed_amounts_due(session, invoices))
    if refusal is not None:
        session.rollback()
        raise refusal
    return invoices


def _payable_amounts(session: Session, invoices: list[Invoice]) -> list[int]:
    # An active dispute holds its amount back: only the rest of what is due is charged.
    payable = undisputed_amounts_due(session, invoices)
    return [payable[invoice.id] for invoice in invoices]


def _refusal(invoices: list[Invoice], request: PaymentRequest, payable: dict[int, int]) -> PaymentNotAllowed | None:
    if len(invoices) != len(set(request.invoice_ids)):
        return PaymentNotAllowed("One of these invoices cannot be found.", code="not_found")
    for invoice in invoices:
        if invoice.voided_at is not None:
            return PaymentNotAllowed(f"Invoice {invoice.number} is void: there is nothing to pay.",
                                     code="invoice_void_nothing_to_pay", number=invoice.number)
        if amount_owed(invoice) <= 0:
            return PaymentNotAllowed(f"Invoice {invoice.number} is already paid.", code="invoice_already_paid",
                                     number=invoice.number)
        if payable[invoice.id] <= 0:
            return PaymentNotAllowed(f"All that is due on invoice {invoice.number} is disputed.",
                                     code="invoice_wholly_disputed", number=invoice.number)
    # One charge has one currency: invoices in two are never charged together.
    if len({invoice.currency for invoice in invoices}) > 1:
        return PaymentNotAllowed("Invoices in different currencies must be paid separately.",
                                 code="mixed_currencies")
    if request.amount is not None:
        if request.amount <= 0:
            return PaymentNotAllowed("Enter an amount greater than zero.", code="amount_not_positive",
                                     field="amount")
        invoice = invoices[0]
        if request.amount > payable[invoice.id]:
            due = Money(payable[invoice.id], invoice.currency)
            if payable[invoice.id] < invoice.amount_due:
                return PaymentNotAllowed(f"That is more than the {due} that can be paid on invoice {invoice.number}: "
                                         "the rest is disputed.", code="amount_above_undisputed", field="amount",
                                         amount=due, number=invoice.number)
            return PaymentNotAllowed(f"That is more than the {due} still due on invoice {invoice.number}.",
                                     code="amount_above_payable", field="amount", amount=due, number=invoice.number)
    return None


def payment_for_attempt(session: Session, company: Company, attempt_key: str) -> Payment | None:
    """The payment a pay page's `attempt_key` already made, if any (what `pay_invoices` would return)."""
    return _payment_by_key(session, _attempt_key(company, attempt_key))


def _attempt_key(company: Company, attempt_key: str) -> str:
    return f"pay-{company.id}-{attempt_key}"


def _payment_by_key(session: Session, idempotency_key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.idempotency_key == idempotency_key))


def _free_abandoned_claims(session: Session, context: PaymentContext, invoice_ids: tuple[int, ...]) -> None:
    """Settle the 3-D Secure attempts on these invoices left unfinished too long, so they hold nothing.

    A stranger with a leaked PAY NOW link could otherwise start one and walk away, keeping
    the invoice from being paid until the reconcile job next ran.
    """
    abandoned = session.scalars(
        select(Payment)
        .join(InvoicePaymentClaim, InvoicePaymentClaim.payment_id == Payment.id)
        .where(InvoicePaymentClaim.invoice_id.in_(invoice_ids), Payment.status == PaymentStatus.REQUIRES_ACTION,
               Payment.created_at < utcnow() - context.abandon_after)
    ).unique().all()
    for payment in abandoned:
        check_payment(session, context, Actor.system("abandoned"), payment)


def check_after_authentication(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                               payment_id: int) -> Payment:
    """After 3-D Secure on the page, ask the provider how the charge ended and apply it."""
    payment = company_payment(session, company.id, payment_id)
    check_payment(session, context, actor, payment)
    return payment


def cancel_payment(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                   payment_id: int) -> Payment:
    """Abandon a payment still waiting for 3-D Secure, freeing its invoices."""
    payment = company_payment(session, company.id, payment_id)
    if payment.status != PaymentStatus.REQUIRES_ACTION:
        return payment
    assert payment.provider_reference is not None, "a charge waiting for 3-D Secure was made at the provider"
    try:
        charge = context.gateway.cancel_charge(payment.provider_reference)
    except OutcomeUnknown:
        raise
    except PaymentError:
        # Refused: the cardholder finished it meanwhile, one way or the other.
        check_payment(session, context, actor, payment)
        return payment
    run_as_writer(session, lambda: settle_from_provider(session, context, actor, payment, charge))
    session.commit()
    return payment


def authentication_secret(context: PaymentContext, payment: Payment) -> str | None:
    """What the page needs to finish 3-D Secure for `payment`, if the provider still waits for it."""
    if payment.status != PaymentStatus.REQUIRES_ACTION or not payment.provider_reference:
        return None
    charge = context.gateway.retrieve_charge(payment.provider_reference)
    return charge.client_secret if charge.status == ChargeStatus.REQUIRES_ACTION else None
