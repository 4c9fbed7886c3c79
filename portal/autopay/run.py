"""The autopay run: charge every invoice due under an active enrolment, once.

It is safe to run anywhere, any number of times, even at once (two machines, two cron entries):

- Attempt n at an invoice is a row whose (invoice, n) is unique, committed before any charge:
  a second run cannot take the same attempt. On PostgreSQL the invoice row is locked
  `FOR UPDATE SKIP LOCKED` while the attempt is taken, so runs pass each other by instead of
  queueing; on SQLite writers take turns (BEGIN IMMEDIATE) and the unique row decides.
- The payment attempt n makes has the idempotency key `autopay-<invoice>-<n>`, unique in the
  database and sent to the provider: a run killed after taking an attempt, and started again,
  finds that payment rather than making another.
- What the provider answers is read with the payments' three outcomes. A lost answer leaves
  the attempt processing, followed up by later runs and by reconcile; it is never retried as
  if it had been declined.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.autopay.enrolment import (
    Plan,
    above_maximum,
    card_expired,
    charge_date,
    upcoming_charges,
)
from portal.autopay.settings import AutopaySettings
from portal.billing.payable import amount_owed, disputed_amounts, payment_in_flight, undisputed_amounts_due
from portal.billing.status import amount_due_expression
from portal.db import run_as_writer
from portal.guest.links import PayLinks
from portal.mail import compose, outbox
from portal.models import (
    ApprovalRule,
    AutopayApproval,
    AutopayAttempt,
    AutopayAttemptStatus,
    AutopayEnrolment,
    AutopayNotice,
    AutopayStatus,
    Company,
    Invoice,
    Payment,
    PaymentChannel,
    PaymentStatus,
    Role,
    User,
)
from portal.models.types import utcnow
from portal.payments.cards import card_summary
from portal.payments.charging import ChargeSource, PaymentRequest, cancel_payment, charge_invoices
from portal.payments.context import PaymentContext
from portal.payments.errors import PaymentError, PaymentInProgress, PaymentNotAllowed
from portal.payments.provider_events import check_payment

log = logging.getLogger(__name__)

ACTOR = Actor.system("autopay")
#: The farthest ahead of its due date an enrolment may charge (see AutopayEnrolment).
MAX_DAYS_BEFORE_DUE = 30
#: A claimed attempt with no payment this long after it was taken belongs to a run that died.
ORPHANED_AFTER = timedelta(minutes=5)
#: Failures that say nothing about the card's funds: they do not count towards the retry schedule.
NOT_A_DECLINE = ("never_reached", "expired_card", "card_removed")
#: How an off-session charge ends when the bank wanted the cardholder: refused at once (real Stripe),
#: or left waiting for them and cancelled, by this run or, if its answer was lost, by reconcile.
WANTED_THE_CARDHOLDER = ("authentication_required", "canceled")
#: Failures an admin must fix (another card) before autopay can go on.
CARD_UNUSABLE = ("expired_card", "card_removed", "resource_missing")


@dataclass(frozen=True)
class AutopayContext:
    payments: PaymentContext
    settings: AutopaySettings
    links: PayLinks


@dataclass
class AutopayRunReport:
    charged: int = 0
    declined: int = 0
    needs_customer: int = 0
    skipped: int = 0
    in_flight: int = 0
    paused: int = 0
    notices: int = 0
    errors: int = 0

    def summary(self) -> str:
        return (f"{self.charged} charged, {self.declined} declined, {self.needs_customer} sent to the customer, "
                f"{self.in_flight} being confirmed, {self.skipped} skipped, {self.paused} enrolments paused, "
                f"{self.notices} advance notices, {self.errors} errors")


def run_autopay(session: Session, context: AutopayContext, *, as_of: date) -> AutopayRunReport:
    """Follow up earlier attempts, send advance notices, then charge what is due on `as_of`."""
    report = AutopayRunReport()
    _follow_up(session, context, as_of, report)
    _send_notices(session, context, as_of, report)
    for invoice_id, enrolment_id in _candidates(session, as_of):
        try:
            attempt = run_as_writer(session, lambda: _take_attempt(session, context, invoice_id, enrolment_id,
                                                                   as_of, report))
            session.commit()
            if attempt is not None:
                _charge(session, context, attempt, as_of, report)
        except Exception:
            # One invoice the provider or our data cannot explain must not stop the others.
            log.exception("Autopay could not charge invoice %s", invoice_id)
            session.rollback()
            report.errors += 1
    return report


# Choosing what to charge ----------------------------------------------------------------


def _candidates(session: Session, as_of: date) -> list[tuple[int, int]]:
    """Open invoices of companies on autopay that may be due by `as_of`, earliest due first."""
    return list(session.execute(
        select(Invoice.id, AutopayEnrolment.id)
        .join(AutopayEnrolment, AutopayEnrolment.company_id == Invoice.company_id)
        .where(AutopayEnrolment.status == AutopayStatus.ACTIVE, Invoice.issued_at.is_not(None),
               Invoice.voided_at.is_(None), amount_due_expression() > 0,
               Invoice.due_date >= AutopayEnrolment.covers_from,
               Invoice.due_date <= as_of + timedelta(days=MAX_DAYS_BEFORE_DUE))
        .order_by(Invoice.due_date, Invoice.id)
    ).all())


def _take_attempt(session: Session, context: AutopayContext, invoice_id: int, enrolment_id: int, as_of: date,
                  report: AutopayRunReport) -> AutopayAttempt | None:
    """Claim the invoice's next attempt if it is due now, or record why it is skipped; None if nothing to do."""
    invoice = session.scalar(
        select(Invoice).where(Invoice.id == invoice_id)
        .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    enrolment = session.get(AutopayEnrolment, enrolment_id, populate_existing=True)
    if invoice is None or enrolment.status != AutopayStatus.ACTIVE or amount_owed(invoice) <= 0:
        return None  # another run has it, or there is nothing left to do
    attempts = list(session.scalars(
        select(AutopayAttempt).where(AutopayAttempt.invoice_id == invoice.id).order_by(AutopayAttempt.attempt_number)))
    due = _next_attempt(enrolment, invoice, [a for a in attempts if a.attempt_number > 0], as_of)
    if due is None:
        return None
    number, charge_on = due
    card = enrolment.card
    if card.removed_at is not None or card_expired(card, as_of):
        _pause(session, context, enrolment, "card_removed" if card.removed_at else "expired_card")
        report.paused += 1
        return None
    if payment_in_flight(session, invoice.id):
        return None  # someone is paying it right now; the next run will see how that ended
    skip_row = next((a for a in attempts if a.attempt_number == 0), None)
    if disputed_amounts(session, [invoice.id]):
        _skip(session, enrolment, invoice, skip_row, charge_on, "disputed", report)
        return None
    amount = undisputed_amounts_due(session, [invoice])[invoice.id]
    if above_maximum(enrolment, invoice, amount, session.get(AutopayApproval, invoice.id),
                     session.get(ApprovalRule, invoice.company_id)):
        _skip(session, enrolment, invoice, skip_row, charge_on, Plan.WAIT_FOR_APPROVAL, report)
        return None
    attempt = AutopayAttempt(enrolment_id=enrolment.id, invoice_id=invoice.id, attempt_number=number,
                             charge_date=charge_on, status=AutopayAttemptStatus.CLAIMED)
    session.add(attempt)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        return None  # another run took this attempt first
    return attempt


def _next_attempt(enrolment: AutopayEnrolment, invoice: Invoice, attempts: list[AutopayAttempt],
                  as_of: date) -> tuple[int, date] | None:
    """The number and date of the invoice's next charge if it is due by `as_of`."""
    first_date = charge_date(invoice, enrolment)
    if not attempts:
        return (1, first_date) if first_date <= as_of else None
    last = attempts[-1]
    match last.status:
        case AutopayAttemptStatus.DECLINED if last.next_try_on is not None and last.next_try_on <= as_of:
            return last.attempt_number + 1, as_of
        case AutopayAttemptStatus.SUCCEEDED | AutopayAttemptStatus.SKIPPED if first_date <= as_of:
            # Paid in part, or skipped for a while: what is still due is charged.
            return last.attempt_number + 1, as_of
    return None


def _skip(session: Session, enrolment: AutopayEnrolment, invoice: Invoice, skip_row: AutopayAttempt | None,
          charge_on: date, reason: str, report: AutopayRunReport) -> None:
    report.skipped += 1
    if skip_row is None:
        skip_row = AutopayAttempt(enrolment_id=enrolment.id, invoice_id=invoice.id, attempt_number=0,
                                  status=AutopayAttemptStatus.SKIPPED)
        session.add(skip_row)
    elif skip_row.reason == reason:
        return  # said already: the timeline gets one entry, not one a day
    skip_row.enrolment_id, skip_row.charge_date, skip_row.reason = enrolment.id, charge_on, reason
    audit.record(session, "autopay.skipped", ACTOR, company_id=invoice.company_id, invoice_id=invoice.id,
                 amount=undisputed_amounts_due(session, [invoice])[invoice.id], currency=invoice.currency,
                 reason=reason)


# Charging --------------------------------------------------------------------------------


def _charge(session: Session, context: AutopayContext, attempt: AutopayAttempt, as_of: date,
            report: AutopayRunReport) -> None:
    enrolment, invoice = attempt.enrolment, attempt.invoice
    card = enrolment.card
    payer = session.get(User, enrolment.accepted_by_user_id)
    source = ChargeSource(customer_id=invoice.company.provider_customer_id, card_id=card.provider_id,
                          summary=card_summary(card), channel=PaymentChannel.AUTOPAY, saved_card_id=card.id,
                          off_session=True)
    try:
        payment = charge_invoices(
            session, context.payments, ACTOR, company=invoice.company, source=source,
            request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key=payment_key(attempt)),
            idempotency_key=payment_key(attempt), receipt_email=payer.email if payer else None,
        )
    except (PaymentInProgress, PaymentNotAllowed) as error:
        # Paid, voided or disputed since the attempt was taken: nothing to charge now.
        reason = "payment_in_progress" if isinstance(error, PaymentInProgress) else "payment_not_allowed"
        run_as_writer(session, lambda: _settle_attempt(session, attempt, AutopayAttemptStatus.SKIPPED, reason))
        session.commit()
        report.skipped += 1
        return
    needs_customer = payment.status == PaymentStatus.REQUIRES_ACTION
    if needs_customer:
        # Nobody is at a page to confirm it: stop this charge, and ask the payer to pay by hand.
        cancel_payment(session, context.payments, ACTOR, company=invoice.company, payment_id=payment.id)
    run_as_writer(session, lambda: _record_outcome(session, context, attempt, payment, as_of, report,
                                                   needs_customer=needs_customer))
    session.commit()


def payment_key(attempt: AutopayAttempt) -> str:
    """The idempotency key of the payment an attempt makes: the same however often it is tried."""
    return f"autopay-{attempt.invoice_id}-{attempt.attempt_number}"


def _record_outcome(session: Session, context: AutopayContext, attempt: AutopayAttempt, payment: Payment,
                    as_of: date, report: AutopayRunReport, *, needs_customer: bool = False) -> None:
    """Bring the attempt in line with its payment, telling the customer when it has just ended badly."""
    session.refresh(attempt, with_for_update=True)
    session.refresh(payment)
    if attempt.status not in (AutopayAttemptStatus.CLAIMED, AutopayAttemptStatus.PROCESSING):
        return  # another run has recorded it
    attempt.payment_id = payment.id
    invoice = attempt.invoice
    if payment.status == PaymentStatus.SUCCEEDED:
        _settle_attempt(session, attempt, AutopayAttemptStatus.SUCCEEDED, None)
        audit.record(session, "autopay.charged", ACTOR, company_id=invoice.company_id, invoice_id=invoice.id,
                     payment_id=payment.id, amount=payment.amount, currency=payment.currency)
        report.charged += 1
    elif payment.status != PaymentStatus.FAILED:
        attempt.status = AutopayAttemptStatus.PROCESSING
        report.in_flight += 1
    elif needs_customer or payment.failure_code in WANTED_THE_CARDHOLDER:
        _settle_attempt(session, attempt, AutopayAttemptStatus.NEEDS_CUSTOMER, "authentication_required")
        _tell_payer(session, context, attempt, "autopay_needs_customer", pay_url=context.links.link_for(invoice).url)
        report.needs_customer += 1
    else:
        code = payment.failure_code or "card_declined"
        _settle_attempt(session, attempt, AutopayAttemptStatus.DECLINED, code)
        if code in CARD_UNUSABLE:
            attempt.next_try_on = as_of  # once an admin has chosen another card
            _pause(session, context, attempt.enrolment, code)
            report.paused += 1
        elif code == "never_reached":
            attempt.next_try_on = as_of
        else:
            attempt.next_try_on = _retry_date(session, context.settings, attempt)
            _tell_payer(session, context, attempt, "autopay_failed", payment=payment,
                        next_try_on=attempt.next_try_on, failure_code=code)
        report.declined += 1


def _settle_attempt(session: Session, attempt: AutopayAttempt, status: AutopayAttemptStatus,
                    reason: str | None) -> None:
    attempt.status, attempt.reason = status, reason
    if status != AutopayAttemptStatus.SUCCEEDED:
        audit.record(session, f"autopay.{status}", ACTOR, company_id=attempt.invoice.company_id,
                     invoice_id=attempt.invoice_id, payment_id=attempt.payment_id, reason=reason,
                     attempt=attempt.attempt_number)


def _retry_date(session: Session, settings: AutopaySettings, attempt: AutopayAttempt) -> date | None:
    """When to try a declined card again: on the schedule counted from the first try; None once it is spent."""
    earlier = list(session.scalars(select(AutopayAttempt).where(
        AutopayAttempt.invoice_id == attempt.invoice_id, AutopayAttempt.attempt_number > 0)
        .order_by(AutopayAttempt.attempt_number)))
    declines = sum(1 for a in earlier if a.status == AutopayAttemptStatus.DECLINED and a.reason not in NOT_A_DECLINE)
    if declines > len(settings.retry_days):
        return None
    return earlier[0].charge_date + timedelta(days=settings.retry_days[declines - 1])


# Following up earlier runs ---------------------------------------------------------------


def _follow_up(session: Session, context: AutopayContext, as_of: date, report: AutopayRunReport) -> None:
    """Finish attempts an earlier run left: a charge whose answer was lost, or a run that died midway."""
    unfinished = list(session.scalars(select(AutopayAttempt).where(
        AutopayAttempt.status.in_([AutopayAttemptStatus.CLAIMED, AutopayAttemptStatus.PROCESSING]))
        .order_by(AutopayAttempt.id)))
    for attempt in unfinished:
        try:
            payment = session.scalar(select(Payment).where(Payment.idempotency_key == payment_key(attempt)))
            if payment is None:
                if utcnow() - attempt.created_at > ORPHANED_AFTER:
                    still_to_charge = run_as_writer(session, lambda: _still_to_charge(session, attempt, report))
                    session.commit()
                    if still_to_charge:
                        _charge(session, context, attempt, as_of, report)
                continue
            try:
                check_payment(session, context.payments, ACTOR, payment)
            except PaymentError as error:
                log.warning("Could not ask the provider about autopay payment %s: %s", payment.id, error)
                session.rollback()
            run_as_writer(session, lambda: _record_outcome(session, context, attempt, payment, as_of, report))
            session.commit()
        except Exception:
            log.exception("Autopay could not follow up attempt %s", attempt.id)
            session.rollback()
            report.errors += 1


def _still_to_charge(session: Session, attempt: AutopayAttempt, report: AutopayRunReport) -> bool:
    """Whether a dead run's claim is still to be charged: not if autopay was stopped since (it is then skipped)."""
    session.refresh(attempt, with_for_update=True)
    if attempt.status != AutopayAttemptStatus.CLAIMED:
        return False  # another run has dealt with it
    enrolment = session.get(AutopayEnrolment, attempt.enrolment_id, populate_existing=True)
    if enrolment.status == AutopayStatus.ACTIVE:
        return True
    # Cancelling takes effect at once, even on a charge a run had claimed and not yet made.
    _settle_attempt(session, attempt, AutopayAttemptStatus.SKIPPED, f"enrolment_{enrolment.status}")
    report.skipped += 1
    return False


# Telling people --------------------------------------------------------------------------


def _send_notices(session: Session, context: AutopayContext, as_of: date, report: AutopayRunReport) -> None:
    """E-mail each company, once per charge date, what will be charged within the notice period."""
    horizon = as_of + timedelta(days=context.settings.notice_days)
    enrolments = list(session.scalars(select(AutopayEnrolment).where(AutopayEnrolment.status == AutopayStatus.ACTIVE)))
    for enrolment in enrolments:
        def notify() -> int:
            # Two runs at once would each find an invoice not yet noticed and insert its notice:
            # on PostgreSQL the second failed on the unique row and the whole run with it. The
            # enrolment's row lock makes the second wait for the first to commit, then read it.
            locked = session.scalar(select(AutopayEnrolment).where(AutopayEnrolment.id == enrolment.id)
                                    .with_for_update().execution_options(populate_existing=True))
            if locked.status != AutopayStatus.ACTIVE:
                return 0
            plans = [plan for plan in upcoming_charges(session, enrolment.company_id, today=as_of, limit=None)
                     if plan.plan == Plan.CHARGE and plan.charge_on <= horizon]
            noticed = {tuple(row) for row in session.execute(
                select(AutopayNotice.invoice_id, AutopayNotice.charge_date)
                .where(AutopayNotice.invoice_id.in_([plan.invoice.id for plan in plans])))}
            new = [plan for plan in plans if (plan.invoice.id, plan.charge_on) not in noticed]
            if not new:
                return 0
            session.add_all(AutopayNotice(invoice_id=plan.invoice.id, charge_date=plan.charge_on) for plan in new)
            for plan in new:
                audit.record(session, "autopay.notice_sent", ACTOR, company_id=enrolment.company_id,
                             invoice_id=plan.invoice.id, amount=plan.amount, currency=plan.invoice.currency,
                             charge_date=plan.charge_on.isoformat())
            _tell(session, context, enrolment, "autopay_notice", [_payer_email(session, enrolment)],
                  charges=sorted(new, key=lambda plan: (plan.charge_on, plan.invoice.number)))
            return len(new)

        try:
            report.notices += run_as_writer(session, notify)
            session.commit()
        except Exception:
            # One company's notice must not stop the other companies' notices, nor the charges.
            log.exception("Autopay could not send the advance notice of enrolment %s", enrolment.id)
            session.rollback()
            report.errors += 1


def _pause(session: Session, context: AutopayContext, enrolment: AutopayEnrolment, reason: str) -> None:
    """Stop charging until an admin chooses another card, and tell them."""
    if enrolment.status != AutopayStatus.ACTIVE:
        return
    enrolment.status, enrolment.paused_reason = AutopayStatus.PAUSED, reason
    audit.record(session, "autopay.paused", ACTOR, company_id=enrolment.company_id, enrolment_id=enrolment.id,
                 reason=reason)
    admins = list(session.scalars(select(User.email).where(
        User.company_id == enrolment.company_id, User.role == Role.ADMIN, User.is_active.is_(True))))
    recipients = sorted(set(admins) | {_payer_email(session, enrolment)})
    _tell(session, context, enrolment, "autopay_paused", recipients, reason=reason)


def _tell_payer(session: Session, context: AutopayContext, attempt: AutopayAttempt, template: str, **details) -> None:
    enrolment = attempt.enrolment
    _tell(session, context, enrolment, template, [_payer_email(session, enrolment)], attempt=attempt,
          invoice=attempt.invoice, **details)


def _tell(session: Session, context: AutopayContext, enrolment: AutopayEnrolment, template: str,
          recipients: list[str], **details) -> None:
    company = session.get(Company, enrolment.company_id)
    base_url = context.payments.base_url
    outbox.enqueue(session, recipients, compose.render(
        template, compose.company_locale(company), company=company, enrolment=enrolment, card=card_summary(enrolment.card),
        supplier_name=context.payments.supplier_name, autopay_url=f"{base_url}/autopay", base_url=base_url,
        **details))


def _payer_email(session: Session, enrolment: AutopayEnrolment) -> str:
    return session.get(User, enrolment.accepted_by_user_id).email
