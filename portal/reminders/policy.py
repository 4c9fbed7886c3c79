"""Reminder schedules: the supplier's default, and each company's own or paused.

A schedule is a list of steps counted in days from an invoice's due date: the notice
before it (negative) and the reminders after it. `step_due` says which step, if any, an
invoice is at on a given day; the run sends each step once.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.models import Company, ReminderPolicy
from portal.reminders.errors import InvalidSchedule

DEFAULT_NOTICE_DAYS = 7
DEFAULT_REMINDER_DAYS = (3, 10, 30)
MAX_NOTICE_DAYS = 60
MAX_REMINDER_DAY = 365
MAX_REMINDERS = 6


@dataclass(frozen=True)
class Schedule:
    notice_days: int | None
    reminder_days: tuple[int, ...]
    paused: bool = False
    # A company's own steps rather than the default's.
    own_steps: bool = False

    @property
    def steps(self) -> tuple[int, ...]:
        notice = (-self.notice_days,) if self.notice_days else ()
        return notice + self.reminder_days


DEFAULT_SCHEDULE = Schedule(DEFAULT_NOTICE_DAYS, DEFAULT_REMINDER_DAYS)


def step_due(schedule: Schedule, due_date: date, as_of: date, sent_steps: set[int]) -> int | None:
    """The step to send for an invoice due on `due_date`, on `as_of`; None if there is none.

    Only the latest step reached counts: a run that did not happen for a week sends the one
    reminder now due, not every one it missed. A step, or any later one, already sent is not
    sent again; a notice is of no use once the due date has come.
    """
    reached = [step for step in schedule.steps if due_date + timedelta(days=step) <= as_of]
    if not reached:
        return None
    latest = reached[-1]
    if latest < 0 and as_of >= due_date:
        return None
    if any(sent >= latest for sent in sent_steps):
        return None
    return latest


def default_schedule(session: Session) -> Schedule:
    """The supplier's default schedule: as staff set it, or notice at 7 days and reminders at 3, 10, 30."""
    row = session.scalar(select(ReminderPolicy).where(ReminderPolicy.is_default.is_(True)))
    if row is None:
        return DEFAULT_SCHEDULE
    return Schedule(row.notice_days, tuple(row.reminder_days or ()))


def company_schedules(session: Session, company_ids: list[int]) -> dict[int, Schedule]:
    """The schedule of each company, by id: its own, or the default (paused if the company is)."""
    default = default_schedule(session)
    rows = {row.company_id: row for row in session.scalars(
        select(ReminderPolicy).where(ReminderPolicy.company_id.in_(set(company_ids))))} if company_ids else {}
    schedules = {}
    for company_id in company_ids:
        row = rows.get(company_id)
        if row is None:
            schedules[company_id] = default
        elif row.reminder_days is None:
            schedules[company_id] = Schedule(default.notice_days, default.reminder_days, paused=row.paused)
        else:
            schedules[company_id] = Schedule(row.notice_days, tuple(row.reminder_days), paused=row.paused,
                                             own_steps=True)
    return schedules


def company_schedule(session: Session, company_id: int) -> Schedule:
    return company_schedules(session, [company_id])[company_id]


def parse_reminder_days(text: str) -> tuple[int, ...]:
    """"3, 10, 30" as (3, 10, 30); `InvalidSchedule` saying what is wrong otherwise."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise InvalidSchedule("empty", "Give at least one reminder day, such as 3, 10, 30.")
    try:
        days = [int(part) for part in parts]
    except ValueError:
        raise InvalidSchedule("not_numbers", "Reminder days are whole numbers of days after the due date, "
                              "such as 3, 10, 30.") from None
    return _checked_reminder_days(days)


def _checked_reminder_days(days: list[int]) -> tuple[int, ...]:
    if len(days) > MAX_REMINDERS:
        raise InvalidSchedule("too_many", f"At most {MAX_REMINDERS} reminders.")
    if any(day < 1 or day > MAX_REMINDER_DAY for day in days):
        raise InvalidSchedule("out_of_range", f"Reminder days are between 1 and {MAX_REMINDER_DAY} days after the due date.")
    if len(set(days)) != len(days):
        raise InvalidSchedule("repeated", "Each reminder day may appear only once.")
    return tuple(sorted(days))


def _checked_notice_days(notice_days: int | None) -> int | None:
    if notice_days is not None and not 1 <= notice_days <= MAX_NOTICE_DAYS:
        raise InvalidSchedule("notice_out_of_range",
                              f"The notice goes between 1 and {MAX_NOTICE_DAYS} days before the due date.")
    return notice_days


def set_default_schedule(session: Session, actor: Actor, *, notice_days: int | None,
                         reminder_days: tuple[int, ...]) -> Schedule:
    """Change the supplier's default schedule (every company without its own follows it)."""
    notice_days = _checked_notice_days(notice_days)
    reminder_days = _checked_reminder_days(list(reminder_days))
    row = _policy_row(session, None)
    row.notice_days, row.reminder_days, row.updated_by_user_id = notice_days, list(reminder_days), actor.user_id
    audit.record(session, "reminders.default_changed", actor, notice_days=notice_days,
                 reminder_days=list(reminder_days))
    return Schedule(notice_days, reminder_days)


def set_company_schedule(session: Session, actor: Actor, company: Company, *, paused: bool,
                         own_steps: tuple[int | None, tuple[int, ...]] | None) -> Schedule:
    """Pause or resume a company's reminders, and give it steps of its own (`own_steps`) or the default's (None)."""
    if own_steps is not None:
        notice_days, reminder_days = _checked_notice_days(own_steps[0]), _checked_reminder_days(list(own_steps[1]))
    row = _policy_row(session, company.id)
    row.paused, row.updated_by_user_id = paused, actor.user_id
    if own_steps is None:
        row.notice_days, row.reminder_days = None, None
    else:
        row.notice_days, row.reminder_days = notice_days, list(reminder_days)
    audit.record(session, "reminders.company_changed", actor, company_id=company.id, paused=paused,
                 notice_days=row.notice_days, reminder_days=row.reminder_days)
    return company_schedule(session, company.id)


def _policy_row(session: Session, company_id: int | None) -> ReminderPolicy:
    """The policy row of `company_id` (None: the default), locked; created if missing."""
    statement = select(ReminderPolicy).with_for_update()
    statement = statement.where(ReminderPolicy.is_default.is_(True) if company_id is None
                                else ReminderPolicy.company_id == company_id)
    row = session.scalar(statement)
    if row is not None:
        return row
    row = ReminderPolicy(company_id=company_id, is_default=company_id is None, paused=False)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Two staff saving the first row at once: the other's row is the one to change.
        return session.scalar(statement)
    return row
