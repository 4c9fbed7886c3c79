"""Sending statements of account, and the monthly statement subscription."""

from datetime import date

from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.mail import compose, outbox
from portal.models import Company, StatementSubscription
from portal.reminders.recipients import statement_recipients
from portal.statements.account import statement_of_account


def email_statement(session: Session, actor: Actor, company: Company, *, start: date, end: date,
                    supplier_name: str, base_url: str) -> int:
    """E-mail the company's statement for `start`–`end` (as a PDF) to its billing recipients; returns how many."""
    recipients = statement_recipients(session, company)
    if not recipients:
        return 0
    statement = statement_of_account(session, company, start=start, end=end)
    outbox.enqueue(session, recipients, compose.render(
        "statement", compose.company_locale(company), company=company, statement=statement, supplier_name=supplier_name,
        statements_url=f"{base_url}/statements"),
        attach_statement={"company_id": company.id, "start": start.isoformat(), "end": end.isoformat()},
        locale=company.locale)
    audit.record(session, "statement.sent", actor, company_id=company.id, start=start.isoformat(),
                 end=end.isoformat(), recipients=len(recipients))
    return len(recipients)


def is_subscribed(session: Session, company: Company) -> bool:
    return session.get(StatementSubscription, company.id) is not None


def set_monthly_statement(session: Session, actor: Actor, company: Company, *, on: bool) -> None:
    """Start or stop e-mailing the company its statement each month."""
    current = session.get(StatementSubscription, company.id)
    if on and current is None:
        session.add(StatementSubscription(company_id=company.id, created_by_user_id=actor.user_id))
    elif not on and current is not None:
        session.delete(current)
    else:
        return
    audit.record(session, "statement.monthly_on" if on else "statement.monthly_off", actor, company_id=company.id)
