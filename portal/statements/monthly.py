"""The monthly statement e-mail: last month's statement to each subscribed company, once.

Each month sent is a `MonthlyStatement` row whose (company, month) is unique, written in the
same transaction as the e-mail's outbox row, so any number of runs, at once or every hour,
send each company each month once.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.db import run_as_writer
from portal.models import Company, MonthlyStatement, StatementSubscription
from portal.statements.service import email_statement

log = logging.getLogger(__name__)

ACTOR = Actor.system("statements")


@dataclass
class MonthlyStatementReport:
    sent: int = 0
    without_recipients: int = 0
    errors: int = 0

    def summary(self) -> str:
        return f"{self.sent} monthly statements sent, {self.without_recipients} without a billing address, " \
               f"{self.errors} errors"


def previous_month(as_of: date) -> tuple[date, date]:
    """The first and last day of the month before `as_of`'s."""
    last = as_of.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def send_monthly_statements(session: Session, *, as_of: date, supplier_name: str,
                            base_url: str) -> MonthlyStatementReport:
    """E-mail last month's statement to every subscribed company that has not had it."""
    report = MonthlyStatementReport()
    start, end = previous_month(as_of)
    company_ids = list(session.scalars(select(StatementSubscription.company_id).order_by(
        StatementSubscription.company_id)))
    for company_id in company_ids:
        def send() -> None:
            if session.scalar(select(MonthlyStatement.id).where(MonthlyStatement.company_id == company_id,
                                                                 MonthlyStatement.month == start)):
                return
            try:
                with session.begin_nested():
                    session.add(MonthlyStatement(company_id=company_id, month=start))
                    session.flush()
            except IntegrityError:
                return  # another run is sending it
            sent = email_statement(session, ACTOR, session.get(Company, company_id), start=start, end=end,
                                   supplier_name=supplier_name, base_url=base_url)
            if sent:
                report.sent += 1
            else:
                report.without_recipients += 1

        try:
            run_as_writer(session, send)
            session.commit()
        except Exception:
            log.exception("Could not send the monthly statement of company %s", company_id)
            session.rollback()
            report.errors += 1
    return report
