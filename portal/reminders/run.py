"""The reminder run: e-mail each company, once per step, what is coming due or overdue.

Each company gets one e-mail per run listing every invoice at a step of its schedule that
day, with one PAY NOW link paying all of them. It is safe to run anywhere, any number of
times, even at once, as autopay is (see portal.autopay.run):

- Each invoice's step is a `ReminderItem` whose (invoice, step) is unique, written in the
  same transaction as its e-mail's outbox row: a second run cannot send the same step, and
  a run that dies sends nothing it has not recorded.
- On PostgreSQL the company's row is locked `FOR UPDATE SKIP LOCKED` while its e-mail is
  written, so runs pass each other by instead of queueing; on SQLite writers take turns
  (BEGIN IMMEDIATE) and the unique rows decide.

Paid, void and draft invoices are never chased; an active dispute's amount is not asked
for (an invoice wholly disputed is left out); an invoice a card payment is settling right
now waits for the next run; a paused company gets nothing.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.payable import amount_owed, disputed_amounts, payment_in_flight, undisputed_amounts_due
from portal.billing.status import amount_due_expression
from portal.db import run_as_writer
from portal.guest.links import MAX_INVOICES_PER_LINK, PayLinks
from portal.mail import compose, outbox
from portal.models import Company, Invoice, ReminderEmail, ReminderItem
from portal.reminders.policy import MAX_NOTICE_DAYS, company_schedule, step_due
from portal.reminders.recipients import reminder_recipients

log = logging.getLogger(__name__)

ACTOR = Actor.system("reminders")


@dataclass(frozen=True)
class ReminderContext:
    links: PayLinks
    supplier_name: str
    base_url: str


@dataclass
class ReminderRunReport:
    emails: int = 0
    invoices: int = 0
    disputed: int = 0
    paused: int = 0
    no_recipients: int = 0
    errors: int = 0

    def summary(self) -> str:
        return (f"{self.emails} reminder e-mails listing {self.invoices} invoices, {self.disputed} wholly disputed "
                f"left out, {self.paused} companies paused, {self.no_recipients} with nobody taking reminders, "
                f"{self.errors} errors")


@dataclass(frozen=True)
class ReminderLine:
    """One invoice of a reminder e-mail, as the e-mail shows it."""

    invoice: Invoice
    step: int
    amount: int
    disputed: int

    @property
    def is_notice(self) -> bool:
        return self.step < 0


def run_reminders(session: Session, context: ReminderContext, *, as_of: date) -> ReminderRunReport:
    """Send every company the notices and reminders due on `as_of` (each step of each invoice once)."""
    report = ReminderRunReport()
    for company_id in _companies_with_open_invoices(session, as_of):
        try:
            run_as_writer(session, lambda: _remind_company(session, context, company_id, as_of, report))
            session.commit()
        except Exception:
            # One company's e-mail failing must not stop the others'.
            log.exception("Could not send the reminders of company %s", company_id)
            session.rollback()
            report.errors += 1
    return report


def _companies_with_open_invoices(session: Session, as_of: date) -> list[int]:
    return list(session.scalars(
        select(Invoice.company_id).distinct()
        .where(Invoice.issued_at.is_not(None), Invoice.voided_at.is_(None), amount_due_expression() > 0,
               Invoice.due_date <= as_of + timedelta(days=MAX_NOTICE_DAYS))
        .order_by(Invoice.company_id)))


def _remind_company(session: Session, context: ReminderContext, company_id: int, as_of: date,
                    report: ReminderRunReport) -> None:
    company = session.scalar(select(Company).where(Company.id == company_id)
                             .with_for_update(skip_locked=True).execution_options(populate_existing=True))
    if company is None:
        return  # another run is writing this company's e-mail
    schedule = company_schedule(session, company.id)
    if schedule.paused:
        report.paused += 1
        return
    lines = _lines_due(session, company, schedule, as_of, report)
    if not lines:
        return
    recipients = reminder_recipients(session, company)
    if not recipients:
        report.no_recipients += 1
        return
    email = ReminderEmail(company_id=company.id, sent_on=as_of, recipients=recipients, items=[
        ReminderItem(invoice_id=line.invoice.id, step=line.step, amount_asked=line.amount,
                     amount_disputed=line.disputed, currency=line.invoice.currency) for line in lines])
    session.add(email)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        return  # another run sent one of these steps first; this company waits for the next run
    message = outbox.enqueue(session, recipients, compose_reminder(context, company, lines, as_of=as_of),
                             locale=company.locale)
    email.outbox_message_id = message.id
    for line in lines:
        audit.record(session, "reminder.notice_sent" if line.is_notice else "reminder.sent", ACTOR,
                     company_id=company.id, invoice_id=line.invoice.id, amount=line.amount,
                     currency=line.invoice.currency, step=line.step, disputed=line.disputed)
    report.emails += 1
    report.invoices += len(lines)


def _lines_due(session: Session, company: Company, schedule, as_of: date,
               report: ReminderRunReport) -> list[ReminderLine]:
    horizon = as_of + timedelta(days=schedule.notice_days or 0)
    invoices = list(session.scalars(
        select(Invoice).where(Invoice.company_id == company.id, Invoice.issued_at.is_not(None),
                              Invoice.voided_at.is_(None), amount_due_expression() > 0, Invoice.due_date <= horizon)
        .order_by(Invoice.due_date, Invoice.number)))
    if not invoices:
        return []
    sent: dict[int, set[int]] = {}
    for invoice_id, step in session.execute(select(ReminderItem.invoice_id, ReminderItem.step).where(
            ReminderItem.invoice_id.in_([invoice.id for invoice in invoices]))):
        sent.setdefault(invoice_id, set()).add(step)
    payable = undisputed_amounts_due(session, invoices)
    held = disputed_amounts(session, [invoice.id for invoice in invoices])
    lines = []
    for invoice in invoices:
        step = step_due(schedule, invoice.due_date, as_of, sent.get(invoice.id, set()))
        if step is None or payment_in_flight(session, invoice.id):
            continue
        if payable[invoice.id] <= 0:
            report.disputed += 1
            continue
        lines.append(ReminderLine(invoice, step, payable[invoice.id], min(held.get(invoice.id, 0),
                                                                           amount_owed(invoice))))
    return lines


def compose_reminder(context: ReminderContext, company: Company, lines: list[ReminderLine], *,
                     as_of: date) -> compose.ComposedEmail:
    """The consolidated e-mail: the notices, the reminders, and links paying all of them (one per currency)."""
    pay_links = []
    by_currency = sorted(lines, key=lambda line: (line.invoice.currency, line.invoice.due_date))
    for currency, group in groupby(by_currency, key=lambda line: line.invoice.currency):
        group = list(group)
        for start in range(0, len(group), MAX_INVOICES_PER_LINK):
            chunk = group[start:start + MAX_INVOICES_PER_LINK]
            pay_links.append((currency, sum(line.amount for line in chunk),
                              context.links.link_for_invoices([line.invoice for line in chunk])))
    notices = [line for line in lines if line.is_notice]
    overdue = [line for line in lines if not line.is_notice]
    return compose.render(
        "reminder", compose.company_locale(company), company=company, notices=notices, overdue=overdue, pay_links=pay_links,
        disputed=any(line.disputed for line in lines), supplier_name=context.supplier_name, as_of=as_of,
        invoices_url=f"{context.base_url}/invoices",
    )
