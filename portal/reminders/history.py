"""What was sent when: the last reminder of each invoice, an invoice's reminders, a company's reminder e-mails."""

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from portal.models import ReminderEmail, ReminderItem


def last_reminded_on(session: Session, invoice_ids: list[int]) -> dict[int, date]:
    """The day each of `invoice_ids` was last sent a notice or reminder; invoices never reminded are left out."""
    if not invoice_ids:
        return {}
    return dict(session.execute(
        select(ReminderItem.invoice_id, func.max(ReminderEmail.sent_on))
        .join(ReminderEmail, ReminderEmail.id == ReminderItem.email_id)
        .where(ReminderItem.invoice_id.in_(set(invoice_ids)))
        .group_by(ReminderItem.invoice_id)).all())


def invoice_reminders(session: Session, invoice_id: int) -> list[tuple[ReminderEmail, ReminderItem]]:
    """The notices and reminders an invoice was in, oldest first."""
    return [tuple(row) for row in session.execute(
        select(ReminderEmail, ReminderItem).join(ReminderItem, ReminderItem.email_id == ReminderEmail.id)
        .where(ReminderItem.invoice_id == invoice_id).order_by(ReminderEmail.sent_on, ReminderEmail.id))]


def company_reminder_emails(session: Session, company_id: int, *, limit: int = 100) -> list[ReminderEmail]:
    """A company's reminder e-mails, newest first, with their invoices."""
    return list(session.scalars(
        select(ReminderEmail).where(ReminderEmail.company_id == company_id)
        .options(selectinload(ReminderEmail.items).selectinload(ReminderItem.invoice))
        .order_by(ReminderEmail.sent_on.desc(), ReminderEmail.id.desc()).limit(limit)))


def recent_reminder_emails(session: Session, *, limit: int = 50) -> list[ReminderEmail]:
    """The latest reminder e-mails to any company, newest first, with their company and invoices."""
    return list(session.scalars(
        select(ReminderEmail)
        .options(selectinload(ReminderEmail.items), selectinload(ReminderEmail.company))
        .order_by(ReminderEmail.sent_on.desc(), ReminderEmail.id.desc()).limit(limit)))
