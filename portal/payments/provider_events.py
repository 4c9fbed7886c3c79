"""Keeping payments and refunds in step with the provider: its webhooks, and asking it.

A payment or refund whose outcome is unknown stays in flight until the provider's record
says how it ended. That record is read here: from a webhook, from `check_payment` when a
payer's page asks, and from `reconcile`, which a job runs every few minutes over everything
still in flight (`acquit payments reconcile --loop`). All of them hand the answer to the
same settling functions, so the order they come in does not matter.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.db import run_as_writer
from portal.models import (
    IN_FLIGHT_PAYMENT_STATUSES,
    Payment,
    PaymentStatus,
    ProcessedWebhookEvent,
    Refund,
    RefundStatus,
)
from portal.models.types import utcnow
from portal.payments.context import PaymentContext
from portal.payments.errors import OutcomeUnknown, PaymentError
from portal.payments.gateway import Charge, ChargeStatus, RefundResult
from portal.payments.refunds import record_refund_failure, settle_refund_from_provider
from portal.payments.settlement import record_failure, settle_from_provider

log = logging.getLogger(__name__)

NEVER_REACHED_MESSAGE = "The payment never reached the card processor."
#: A payer's page asks the provider about a payment at most this often.
CHECK_INTERVAL = timedelta(seconds=3)
#: How long reconcile keeps asking about a payment or refund it gave up as never having reached
#: the provider: a request held up on the way may still be carried out, and must then be recorded.
RECHECK_LOST_FOR = timedelta(days=7)


# Webhooks -------------------------------------------------------------------------------


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
    settle_from_provider(session, context, Actor.system("webhook"), payment, event.charge)
    return "applied"


def _payment_for_charge(session: Session, charge: Charge) -> Payment | None:
    payment = session.scalar(select(Payment).where(Payment.provider_reference == charge.reference))
    if payment is None and charge.metadata.get("payment_key"):
        payment = session.scalar(select(Payment).where(Payment.idempotency_key == charge.metadata["payment_key"]))
        if payment is not None and not _made_for(payment, charge):
            return None
    return payment


def _made_for(payment: Payment, charge: Charge) -> bool:
    """Whether a charge found by our key in its metadata was made for this very payment.

    Keys are unique in one database only: a staging copy sharing the Stripe account, or a
    database started afresh, has payments with the same keys that are not ours.
    """
    return (charge.metadata.get("payment_id") == str(payment.id)
            and charge.metadata.get("company_ref") == payment.company.external_ref)


# Asking the provider ---------------------------------------------------------------------


def check_payment(session: Session, context: PaymentContext, actor: Actor, payment: Payment, *,
                  now: datetime | None = None) -> None:
    """Ask the provider where an in-flight `payment` stands and settle it; commits.

    A charge left waiting for 3-D Secure longer than `context.abandon_after` is cancelled;
    a payment the provider has no record of after `context.lost_after` never reached it (and
    is asked about again for a while, in case it was only held up on the way).
    Raises `OutcomeUnknown` if the provider cannot be asked now (it stays in flight).
    """
    now = now or utcnow()
    if not (payment.status in IN_FLIGHT_PAYMENT_STATUSES or _given_up_as_lost(payment)):
        return
    session.commit()  # no lock is held while the provider is asked
    gateway = context.gateway
    charge: Charge | None
    if payment.provider_reference:
        charge = gateway.retrieve_charge(payment.provider_reference)
    else:
        charge = gateway.find_charge(payment_key=payment.idempotency_key, made_after=payment.created_at)
        if charge is not None and not _made_for(payment, charge):
            log.warning("Charge %s carries payment %s's key but was not made for it", charge.reference, payment.id)
            charge = None
    if charge is None:
        if payment.status in IN_FLIGHT_PAYMENT_STATUSES and now - payment.created_at > context.lost_after:
            run_as_writer(session, lambda: record_failure(session, actor, payment, NEVER_REACHED_MESSAGE,
                                                          code="never_reached"))
        else:
            run_as_writer(session, lambda: _mark_checked(payment, now))
        session.commit()
        return
    if charge.status == ChargeStatus.REQUIRES_ACTION and now - payment.created_at > context.abandon_after:
        charge = _cancel_abandoned(context, charge)
    run_as_writer(session, lambda: settle_from_provider(session, context, actor, payment, charge))
    session.commit()


def _given_up_as_lost(row: Payment | Refund) -> bool:
    return row.status == PaymentStatus.FAILED and row.failure_code == "never_reached" and not row.provider_reference


def _cancel_abandoned(context: PaymentContext, charge: Charge) -> Charge:
    try:
        return context.gateway.cancel_charge(charge.reference)
    except OutcomeUnknown:
        raise
    except PaymentError:
        # Refused: the cardholder finished it in the meantime; settle on how it ended.
        return context.gateway.retrieve_charge(charge.reference)


def _mark_checked(payment: Payment, now: datetime) -> None:
    payment.checked_at = now


def check_payment_if_due(session: Session, context: PaymentContext, payment: Payment, *,
                         now: datetime | None = None) -> None:
    """What a payer's page does while a payment's outcome is being checked: ask, at most every few seconds."""
    now = now or utcnow()
    if payment.status != PaymentStatus.PROCESSING or (
        payment.checked_at is not None and now - payment.checked_at < CHECK_INTERVAL
    ):
        return
    try:
        check_payment(session, context, Actor.system("payer-page"), payment, now=now)
    except PaymentError as error:
        session.rollback()
        log.warning("Could not check payment %s for the payer's page: %s", payment.id, error)


def check_refund(session: Session, context: PaymentContext, actor: Actor, refund: Refund, *,
                 now: datetime | None = None) -> None:
    """Ask the provider where a pending `refund` (or one given up as lost) stands and settle it; commits."""
    now = now or utcnow()
    if not (refund.status == RefundStatus.PENDING or _given_up_as_lost(refund)):
        return
    session.commit()  # no lock is held while the provider is asked
    gateway = context.gateway
    result: RefundResult | None
    if refund.provider_reference:
        result = gateway.retrieve_refund(refund.provider_reference)
    else:
        charge_reference = refund.payment.provider_reference
        assert charge_reference is not None, "only card payments, made at the provider, are refunded there"
        result = gateway.find_refund(charge_reference=charge_reference, refund_key=refund.idempotency_key)
    if result is None:
        if refund.status == RefundStatus.PENDING and now - refund.created_at > context.lost_after:
            run_as_writer(session, lambda: record_refund_failure(
                session, actor, refund, "The refund never reached the card processor.", code="never_reached"))
            session.commit()
        return
    run_as_writer(session, lambda: settle_refund_from_provider(session, context, actor, refund, result))
    session.commit()


# Reconciling everything in flight ----------------------------------------------------------


@dataclass
class ReconcileReport:
    checked: int = 0
    settled: int = 0
    failed: int = 0
    still_open: int = 0
    errors: int = 0

    def summary(self) -> str:
        return (f"{self.checked} checked: {self.settled} settled, {self.failed} failed, "
                f"{self.still_open} still open, {self.errors} could not be checked")


def reconcile(session: Session, context: PaymentContext, *, now: datetime | None = None) -> ReconcileReport:
    """Ask the provider about every payment and refund still in flight, and settle what has ended."""
    now = now or utcnow()
    report = ReconcileReport()
    actor = Actor.system("reconcile")
    recently = now - RECHECK_LOST_FOR
    payment_ids = list(session.scalars(
        select(Payment.id).where(or_(
            Payment.status.in_(IN_FLIGHT_PAYMENT_STATUSES),
            and_(Payment.status == PaymentStatus.FAILED, Payment.failure_code == "never_reached",
                 Payment.created_at >= recently)))
        .order_by(Payment.id)
    ))
    refund_ids = list(session.scalars(
        select(Refund.id).where(or_(
            Refund.status == RefundStatus.PENDING,
            and_(Refund.status == RefundStatus.FAILED, Refund.failure_code == "never_reached",
                 Refund.created_at >= recently)))
        .order_by(Refund.id)
    ))
    for payment_id in payment_ids:
        _reconcile_one(session, report, session.get_one(Payment, payment_id),
                       lambda payment: check_payment(session, context, actor, payment, now=now))
    for refund_id in refund_ids:
        _reconcile_one(session, report, session.get_one(Refund, refund_id),
                       lambda refund: check_refund(session, context, actor, refund, now=now))
    return report


def _reconcile_one(session: Session, report: ReconcileReport, row: Payment | Refund, check) -> None:
    # Payments and refunds end in the same two words.
    rechecked = row.status == PaymentStatus.FAILED
    # Read now: after a failed flush the row cannot be read until the session is rolled back.
    label = f"{type(row).__name__.lower()} {row.id}"
    report.checked += not rechecked
    try:
        check(row)
    except Exception:
        # One the provider or our data cannot explain must not keep the others in flight.
        log.exception("Could not reconcile %s; left as it was", label)
        session.rollback()
        report.errors += 1
        return
    if rechecked:
        if row.status == PaymentStatus.FAILED:
            return  # still nowhere to be found at the provider: nothing new to report
        report.checked += 1
    report.settled += row.status == PaymentStatus.SUCCEEDED
    report.failed += row.status == PaymentStatus.FAILED
    report.still_open += row.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED)
