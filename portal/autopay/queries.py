"""What autopay looks like from outside: a company's state, the run's last activity, what went wrong.

Read-only queries for the customer's autopay page (always for one company) and for the
collections team's overview (every company). Each issues a fixed number of statements,
however many companies or attempts there are.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.autopay.run import ACTOR
from portal.models import (
    AuditEvent,
    AutopayAttempt,
    AutopayAttemptStatus,
    AutopayEnrolment,
    AutopayStatus,
    Company,
    Invoice,
    User,
)

#: Attempts the collections team should see: the card said no, the bank wanted the cardholder, or not charged.
UNSUCCESSFUL = (AutopayAttemptStatus.DECLINED, AutopayAttemptStatus.NEEDS_CUSTOMER, AutopayAttemptStatus.SKIPPED)


@dataclass(frozen=True)
class CompanyAutopay:
    company: Company
    # The enrolment that is active or paused; None when autopay is off.
    enrolment: AutopayEnrolment | None
    # The e-mail address of whoever accepted the live enrolment's mandate.
    accepted_by: str | None
    # When the company's last enrolment was cancelled, if autopay is off after having been on.
    stopped_at: datetime | None
    # The last time the autopay run did anything for the company (an attempt, a notice, a pause).
    last_run_at: datetime | None

    @property
    def state(self) -> str:
        """ "active", "paused" (an admin must choose another card) or "off"."""
        return "off" if self.enrolment is None else self.enrolment.status


def company_autopay(session: Session, company_id: int) -> CompanyAutopay:
    """Autopay as it stands for one company."""
    company = session.get(Company, company_id)
    return _states(session, [company])[0]


def autopay_states(session: Session) -> list[CompanyAutopay]:
    """Autopay as it stands for every customer company, by name."""
    companies = list(session.scalars(select(Company).order_by(Company.name, Company.id)))
    return _states(session, companies)


def last_run_at(session: Session) -> datetime | None:
    """The last time the autopay run did anything at all: updated an attempt or wrote an audit event.

    A run that found nothing to charge, notify or skip leaves no trace, so this is the last
    run that had work, not necessarily the last run.
    """
    attempt = session.scalar(select(func.max(AutopayAttempt.updated_at)))
    event = session.scalar(select(func.max(AuditEvent.occurred_at)).where(*_run_events()))
    return max((moment for moment in (attempt, event) if moment is not None), default=None)


def unsuccessful_attempts(session: Session, *, limit: int = 200) -> list[AutopayAttempt]:
    """Attempts that were declined, needed the cardholder or were skipped, newest first, with their invoice."""
    return list(session.scalars(
        select(AutopayAttempt)
        .where(AutopayAttempt.status.in_(UNSUCCESSFUL))
        .options(joinedload(AutopayAttempt.invoice).joinedload(Invoice.company), joinedload(AutopayAttempt.payment))
        .order_by(AutopayAttempt.updated_at.desc(), AutopayAttempt.id.desc())
        .limit(limit)
    ))


def _states(session: Session, companies: list[Company]) -> list[CompanyAutopay]:
    ids = [company.id for company in companies]
    if not ids:
        return []
    live = {enrolment.company_id: enrolment for enrolment in session.scalars(
        select(AutopayEnrolment)
        .where(AutopayEnrolment.company_id.in_(ids), AutopayEnrolment.status != AutopayStatus.CANCELLED)
        .options(joinedload(AutopayEnrolment.card)))}
    accepters = {user_id: email for user_id, email in session.execute(
        select(User.id, User.email).where(User.id.in_({e.accepted_by_user_id for e in live.values()})))} if live else {}
    stopped = dict(session.execute(
        select(AutopayEnrolment.company_id, func.max(AutopayEnrolment.ended_at))
        .where(AutopayEnrolment.company_id.in_(ids), AutopayEnrolment.status == AutopayStatus.CANCELLED)
        .group_by(AutopayEnrolment.company_id)).all())
    attempted = dict(session.execute(
        select(AutopayEnrolment.company_id, func.max(AutopayAttempt.updated_at))
        .join(AutopayAttempt, AutopayAttempt.enrolment_id == AutopayEnrolment.id)
        .where(AutopayEnrolment.company_id.in_(ids))
        .group_by(AutopayEnrolment.company_id)).all())
    recorded = dict(session.execute(
        select(AuditEvent.company_id, func.max(AuditEvent.occurred_at))
        .where(AuditEvent.company_id.in_(ids), *_run_events())
        .group_by(AuditEvent.company_id)).all())
    states = []
    for company in companies:
        enrolment = live.get(company.id)
        moments = [moment for moment in (attempted.get(company.id), recorded.get(company.id)) if moment is not None]
        states.append(CompanyAutopay(
            company=company, enrolment=enrolment,
            accepted_by=accepters.get(enrolment.accepted_by_user_id) if enrolment else None,
            stopped_at=None if enrolment else stopped.get(company.id),
            last_run_at=max(moments, default=None),
        ))
    return states


def _run_events():
    """The audit events the autopay run writes (clerks' enrolments and approvals are not the run)."""
    return AuditEvent.action.like("autopay.%"), AuditEvent.actor_label == ACTOR.label
