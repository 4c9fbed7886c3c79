"""Enrolling a company in autopay, stopping it, and what it will charge next.

The mandate a clerk accepts is the text the page showed for the terms they chose; it is
stored word for word with who accepted it, when and from which address. A company has at
most one enrolment that is not cancelled; enrolling again (another card, other terms)
replaces it. Cancelling takes effect at once: the next run charges nothing for the company.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.permissions import Action
from portal.approvals import rules as approval_rules
from portal.audit import Actor
from portal.autopay.errors import AutopayNotAllowed
from portal.autopay.settings import AutopaySettings
from portal.billing.payable import amount_owed, disputed_amounts, undisputed_amounts_due
from portal.billing.status import amount_due_expression
from portal.mail import compose, outbox
from portal.models import (
    ApprovalRule,
    AutopayApproval,
    AutopayAttempt,
    AutopayAttemptStatus,
    AutopayEnrolment,
    AutopayStatus,
    Company,
    Invoice,
    SavedCard,
    User,
)
from portal.models.types import utcnow
from portal.payments.cards import card_summary


@dataclass(frozen=True)
class EnrolmentTerms:
    """What a clerk chooses: which card, how early, and above what an invoice waits for approval."""

    card_id: int
    days_before_due: int = 0
    # In the company's currency; None: no maximum.
    max_amount: int | None = None


@dataclass(frozen=True)
class MandateContext:
    supplier_name: str
    locale: str
    settings: AutopaySettings
    # The supplier's today: an enrolment accepted now covers invoices falling due from it on.
    today: date


def mandate_text(session: Session, company: Company, terms: EnrolmentTerms, context: MandateContext) -> str:
    """The authorisation a clerk accepts for `terms`, in their language."""
    card = _usable_card(session, company, terms.card_id)
    return compose.render_text(
        "autopay_mandate", context.locale, supplier_name=context.supplier_name, company_name=company.name,
        card_summary=card_summary(card), days_before_due=terms.days_before_due, max_amount=terms.max_amount,
        max_currency=company.currency, notice_days=context.settings.notice_days,
        covers_from=covers_from(session, company.id, today=context.today),
    )


def covers_from(session: Session, company_id: int, *, today: date) -> date:
    """The first due date an enrolment accepted `today` covers: today's, or that of the enrolment it replaces."""
    previous = live_enrolment(session, company_id)
    return previous.covers_from if previous is not None else today


@dataclass(frozen=True)
class InvoiceGroup:
    invoices: list[Invoice]
    # Per currency, of what autopay would charge on them now (disputed parts left out).
    totals: dict[str, int]


@dataclass(frozen=True)
class AcceptancePreview:
    """What accepting the mandate does at once, shown before the clerk accepts it.

    `charged_first`: covered invoices whose charge date has come, charged by the next run
    (within minutes); `left_out`: invoices already past due before autopay covers them, which
    it never charges.
    """

    covers_from: date
    charged_first: InvoiceGroup
    left_out: InvoiceGroup


def acceptance_preview(session: Session, company: Company, terms: EnrolmentTerms, *, today: date) -> AcceptancePreview:
    start = covers_from(session, company.id, today=today)
    due_now = list(session.scalars(_open_invoices(company.id).where(
        Invoice.due_date >= start, Invoice.due_date <= today + timedelta(days=terms.days_before_due))))
    payable = undisputed_amounts_due(session, due_now)
    charged_first = [invoice for invoice in due_now if 0 < payable[invoice.id] and not (
        terms.max_amount is not None
        and (invoice.currency != company.currency or payable[invoice.id] > terms.max_amount))]
    return AcceptancePreview(start, _group(charged_first, payable), left_out(session, company.id, start))


def left_out(session: Session, company_id: int, start: date) -> InvoiceGroup:
    """The company's open invoices that fell due before `start`: an enrolment covering from `start` leaves them."""
    invoices = list(session.scalars(_open_invoices(company_id).where(Invoice.due_date < start)))
    payable = undisputed_amounts_due(session, invoices)
    return _group([invoice for invoice in invoices if payable[invoice.id] > 0], payable)


def _group(invoices: list[Invoice], amounts: dict[int, int]) -> InvoiceGroup:
    totals: dict[str, int] = {}
    for invoice in invoices:
        totals[invoice.currency] = totals.get(invoice.currency, 0) + amounts[invoice.id]
    return InvoiceGroup(invoices, totals)


def _open_invoices(company_id: int):
    return (
        select(Invoice)
        .where(Invoice.company_id == company_id, Invoice.issued_at.is_not(None), Invoice.voided_at.is_(None),
               amount_due_expression() > 0)
        .order_by(Invoice.due_date, Invoice.id)
    )


def mandate_to_review(session: Session, user: User, *, company: Company, terms: EnrolmentTerms,
                      context: MandateContext) -> str:
    """The mandate `user` is asked to accept for `terms`; refused for the same reasons `enrol` would refuse them."""
    _require_payer(user, company)
    # The same rules as `enrol`'s: the review page must not show terms that accepting would refuse.
    if not 0 <= terms.days_before_due <= 30:
        raise AutopayNotAllowed("Choose between 0 and 30 days before the due date.", code="invalid_days")
    if terms.max_amount is not None and terms.max_amount <= 0:
        raise AutopayNotAllowed("The maximum must be greater than zero.", code="invalid_maximum")
    return mandate_text(session, company, terms, context)


def enrol(session: Session, user: User, *, company: Company, terms: EnrolmentTerms, accepted_text: str,
          ip_address: str, context: MandateContext) -> AutopayEnrolment:
    """Start autopay for `company` on `terms`, `user` having accepted `accepted_text`; replaces a live enrolment.

    Refused unless `accepted_text` is exactly the mandate for these terms: what is stored is
    what the clerk read.
    """
    text = mandate_to_review(session, user, company=company, terms=terms, context=context)
    if accepted_text.strip() != text:
        raise AutopayNotAllowed("The terms have changed since the page was shown. Read them again and accept.",
                                code="mandate_changed")
    start = covers_from(session, company.id, today=context.today)
    previous = live_enrolment(session, company.id)
    if previous is not None:
        _end(session, previous, Actor.user(user), AutopayStatus.CANCELLED, action="autopay.replaced")
        session.flush()
    enrolment = AutopayEnrolment(
        company_id=company.id, saved_card_id=terms.card_id, days_before_due=terms.days_before_due, covers_from=start,
        max_amount=terms.max_amount, max_currency=company.currency if terms.max_amount else None,
        mandate_text=text, accepted_by_user_id=user.id, accepted_ip=ip_address, status=AutopayStatus.ACTIVE,
    )
    session.add(enrolment)
    session.flush()
    audit.record(session, "autopay.enrolled", Actor.user(user), company_id=company.id, enrolment_id=enrolment.id,
                 card=card_summary(enrolment.card), days_before_due=terms.days_before_due,
                 max_amount=terms.max_amount, covers_from=start.isoformat(), ip=ip_address)
    outbox.enqueue(session, [user.email], compose.render(
        "autopay_enrolled", context.locale, company=company, enrolment=enrolment,
        supplier_name=context.supplier_name))
    return enrolment


def cancel(session: Session, user: User, *, company: Company) -> AutopayEnrolment | None:
    """Stop autopay for `company` now; returns the enrolment stopped, if there was one."""
    _require_payer(user, company)
    enrolment = live_enrolment(session, company.id)
    if enrolment is not None:
        _end(session, enrolment, Actor.user(user), AutopayStatus.CANCELLED, action="autopay.cancelled")
    return enrolment


def _end(session: Session, enrolment: AutopayEnrolment, actor: Actor, status: AutopayStatus, *, action: str) -> None:
    enrolment.status = status
    enrolment.ended_at = utcnow()
    enrolment.ended_by_user_id = actor.user_id
    audit.record(session, action, actor, company_id=enrolment.company_id, enrolment_id=enrolment.id)


# Built once: the invoice list reads it on every request, and building and keying it cost more than running it.
_LIVE_ENROLMENT = select(AutopayEnrolment).where(AutopayEnrolment.company_id == bindparam("company_id"),
                                                 AutopayEnrolment.status != AutopayStatus.CANCELLED)


def live_enrolment(session: Session, company_id: int) -> AutopayEnrolment | None:
    """The company's enrolment that is active or paused, if any."""
    return session.scalar(_LIVE_ENROLMENT, {"company_id": company_id})


def approve(session: Session, user: User, *, company: Company, invoice: Invoice) -> AutopayApproval:
    """Let autopay charge `invoice` although it is above the enrolment's maximum (up to what is due now).

    Above the company's approval threshold this is the second clerk's approval of a payment the
    enrolment prepared: only a clerk who may approve payments gives it, and not the one who
    accepted the mandate.
    """
    _require_payer(user, company)
    if invoice.company_id != company.id:
        raise AutopayNotAllowed("No such invoice.", code="not_found")
    amount = undisputed_amounts_due(session, [invoice])[invoice.id]
    if amount <= 0:
        raise AutopayNotAllowed("Nothing can be charged on this invoice now.", code="nothing_to_charge")
    rule = session.get(ApprovalRule, company.id)
    enrolment = live_enrolment(session, company.id)
    if approval_rules.needs_approval(rule, amount, invoice.currency) and (
            not approval_rules.may_approve(user, company.id, rule)
            or (enrolment is not None and enrolment.accepted_by_user_id == user.id)):
        raise AutopayNotAllowed("Above the company's approval threshold, a second clerk who may approve payments "
                                "approves this charge.", code="needs_second_clerk")
    approval = session.get(AutopayApproval, invoice.id) or AutopayApproval(invoice_id=invoice.id)
    approval.amount, approval.currency = amount, invoice.currency
    approval.approved_by_user_id, approval.approved_at = user.id, utcnow()
    session.add(approval)
    audit.record(session, "autopay.approved", Actor.user(user), company_id=company.id, invoice_id=invoice.id,
                 amount=amount, currency=invoice.currency, approved_by=user.email,
                 mandate_accepted_by=enrolment.accepted_by_user_id if enrolment else None)
    return approval


def charge_date(invoice: Invoice, enrolment: AutopayEnrolment) -> date:
    """The day autopay first charges `invoice`: its due date, or that many days before."""
    return invoice.due_date - timedelta(days=enrolment.days_before_due)


def above_maximum(enrolment: AutopayEnrolment, invoice: Invoice, amount: int,
                  approval: AutopayApproval | None, rule: ApprovalRule | None) -> bool:
    """Whether `amount` on `invoice` needs a clerk's approval first (and has none that covers it):
    above the enrolment's maximum, or above the company's approval threshold (`rule`)."""
    if approval is not None and approval.currency == invoice.currency and amount <= approval.amount:
        return False
    if approval_rules.needs_approval(rule, amount, invoice.currency):
        return True
    if enrolment.max_amount is None:
        return False
    # A maximum in one currency cannot vouch for an amount in another.
    return invoice.currency != enrolment.max_currency or amount > enrolment.max_amount


class Plan:
    """What autopay will do with one of the company's open invoices."""

    CHARGE = "charge"
    WAIT_FOR_APPROVAL = "above_maximum"
    DISPUTED = "disputed"
    NOT_COVERED = "not_covered"  # past due before autopay started: the mandate does not reach it
    STOPPED = "stopped"  # declined too often, or the customer was asked to pay by hand


@dataclass(frozen=True)
class UpcomingCharge:
    invoice: Invoice
    charge_on: date
    amount: int
    plan: str


def upcoming_charges(session: Session, company_id: int, *, today: date,
                     limit: int | None = 50) -> list[UpcomingCharge]:
    """The company's open invoices in the order autopay will charge them, with when, how much, or why not."""
    enrolment = live_enrolment(session, company_id)
    if enrolment is None or enrolment.status != AutopayStatus.ACTIVE:
        return []
    statement = _open_invoices(company_id).where(Invoice.due_date >= enrolment.covers_from)
    invoices = list(session.scalars(statement if limit is None else statement.limit(limit)))
    return [_plan(enrolment, invoice, facts, today) for invoice, facts in _facts(session, invoices).items()]


def autopay_dates(session: Session, company_id: int, invoice_ids: list[int], *, today: date) -> dict[int, date]:
    """For the invoice list: the day autopay will charge each of the company's `invoice_ids` that it will charge.

    The invoices are read only when autopay is on (the list itself reads plain columns).
    """
    enrolment = live_enrolment(session, company_id)
    if enrolment is None or enrolment.status != AutopayStatus.ACTIVE:
        return {}
    invoices = list(session.scalars(select(Invoice).where(Invoice.company_id == company_id,
                                                          Invoice.id.in_(invoice_ids))))
    plans = [_plan(enrolment, invoice, facts, today) for invoice, facts in _facts(session, invoices).items()]
    return {plan.invoice.id: plan.charge_on for plan in plans if plan.plan == Plan.CHARGE}


def invoice_plan(session: Session, enrolment: AutopayEnrolment | None, invoice: Invoice, *,
                 today: date) -> UpcomingCharge | None:
    """For an invoice's page: what autopay under `enrolment` will do with `invoice`.

    None if autopay is not on or the invoice owes nothing.
    """
    if enrolment is None or enrolment.status != AutopayStatus.ACTIVE:
        return None
    facts = _facts(session, [invoice]).get(invoice)
    return None if facts is None else _plan(enrolment, invoice, facts, today)


@dataclass(frozen=True)
class _InvoiceFacts:
    payable: int
    disputed: bool
    approval: AutopayApproval | None
    last_attempt: AutopayAttempt | None
    rule: ApprovalRule | None


def _facts(session: Session, invoices: list[Invoice]) -> dict[Invoice, _InvoiceFacts]:
    ids = [invoice.id for invoice in invoices]
    payable = undisputed_amounts_due(session, invoices)
    disputed = disputed_amounts(session, ids)
    approvals = {approval.invoice_id: approval for approval in session.scalars(
        select(AutopayApproval).where(AutopayApproval.invoice_id.in_(ids)))} if ids else {}
    last_attempts: dict[int, AutopayAttempt] = {}
    if ids:
        for attempt in session.scalars(select(AutopayAttempt).where(
                AutopayAttempt.invoice_id.in_(ids), AutopayAttempt.attempt_number > 0)
                .order_by(AutopayAttempt.attempt_number)):
            last_attempts[attempt.invoice_id] = attempt
    rules_by_company = {company_id: session.get(ApprovalRule, company_id)
                        for company_id in {invoice.company_id for invoice in invoices}}
    return {invoice: _InvoiceFacts(payable=payable[invoice.id], disputed=invoice.id in disputed,
                                   approval=approvals.get(invoice.id), last_attempt=last_attempts.get(invoice.id),
                                   rule=rules_by_company[invoice.company_id])
            for invoice in invoices if amount_owed(invoice) > 0}


def _plan(enrolment: AutopayEnrolment, invoice: Invoice, facts: _InvoiceFacts, today: date) -> UpcomingCharge:
    charge_on = max(charge_date(invoice, enrolment), today)
    if invoice.due_date < enrolment.covers_from:
        return UpcomingCharge(invoice, invoice.due_date, facts.payable, Plan.NOT_COVERED)
    last = facts.last_attempt
    if last is not None and last.status in (AutopayAttemptStatus.DECLINED, AutopayAttemptStatus.NEEDS_CUSTOMER):
        if last.next_try_on is None:
            return UpcomingCharge(invoice, charge_on, facts.payable, Plan.STOPPED)
        charge_on = max(last.next_try_on, today)
    if facts.disputed:
        return UpcomingCharge(invoice, charge_on, facts.payable, Plan.DISPUTED)
    if above_maximum(enrolment, invoice, facts.payable, facts.approval, facts.rule):
        return UpcomingCharge(invoice, charge_on, facts.payable, Plan.WAIT_FOR_APPROVAL)
    return UpcomingCharge(invoice, charge_on, facts.payable, Plan.CHARGE)


def _usable_card(session: Session, company: Company, card_id: int) -> SavedCard:
    card = session.scalar(select(SavedCard).where(SavedCard.id == card_id, SavedCard.company_id == company.id,
                                                  SavedCard.removed_at.is_(None)))
    if card is None:
        raise AutopayNotAllowed("Choose one of your saved cards.", code="no_card")
    return card


def _require_payer(user: User, company: Company) -> None:
    if not (user.is_clerk and user.company_id == company.id and user.can(Action.AUTOPAY)):
        raise AutopayNotAllowed("Only the company's admins and payers can change autopay.", code="autopay_not_allowed")


def card_expired(card: SavedCard, on: date) -> bool:
    """A card is good through the last day of its expiry month."""
    return (card.exp_year, card.exp_month) < (on.year, on.month)
