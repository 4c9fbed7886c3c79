from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.blueprints.forms import WholeNumberRange
from portal.reminders.errors import InvalidSchedule
from portal.reminders.policy import MAX_NOTICE_DAYS, MAX_REMINDER_DAY, MAX_REMINDERS, parse_reminder_days


def _schedule_problem(code: str) -> str:
    return {
        "empty": _("Give at least one reminder day, such as 3, 10, 30."),
        "not_numbers": _("Reminder days are whole numbers of days after the due date, such as 3, 10, 30."),
        "too_many": _("At most %(num)d reminders.", num=MAX_REMINDERS),
        "out_of_range": _("Reminder days are between 1 and %(num)d days after the due date.", num=MAX_REMINDER_DAY),
        "repeated": _("Each reminder day may appear only once."),
    }[code]


class ScheduleForm(FlaskForm):
    """A reminder schedule: days of notice before the due date (empty: none) and reminder days after it."""

    notice_days = IntegerField(_l("Notice, days before the due date"),
                               validators=[Optional(), WholeNumberRange(min=1, max=MAX_NOTICE_DAYS)])
    reminder_days = StringField(_l("Reminders, days after the due date"), validators=[Length(max=100)])

    def validate_reminder_days(self, field):
        if self._needs_steps():
            try:
                parse_reminder_days(field.data or "")
            except InvalidSchedule as error:
                raise ValidationError(_schedule_problem(error.code)) from None

    def _needs_steps(self) -> bool:
        return True

    def steps(self) -> tuple[int | None, tuple[int, ...]]:
        return self.notice_days.data, parse_reminder_days(self.reminder_days.data)


class CompanyScheduleForm(ScheduleForm):
    """A company's reminders: paused or not, and the default schedule or its own."""

    paused = BooleanField(_l("Pause this company's reminders"))
    schedule = RadioField(_l("Schedule"), choices=[SelectChoice("default", _l("The default schedule")),
                                                   SelectChoice("own", _l("Its own schedule"))], default="default")

    def _needs_steps(self) -> bool:
        return self.schedule.data == "own"


class _PeriodForm(FlaskForm):
    """A statement's period, both days included."""

    start = DateField(_l("First day"), validators=[DataRequired()])
    end = DateField(_l("Last day"), validators=[DataRequired()])

    def validate_end(self, field):
        if self.start.data and field.data and field.data < self.start.data:
            raise ValidationError(_("The period ends before it starts."))
        if self.start.data and field.data and (field.data - self.start.data).days > 366 * 5:
            raise ValidationError(_("A statement covers at most five years."))


def current_month(today: date) -> dict:
    """The default period: from the first of this month to today."""
    return {"start": today.replace(day=1), "end": today}


class StatementPeriodForm(_PeriodForm):
    """The period of a statement to show or download: a GET form, whose link can be bookmarked."""

    class Meta:
        csrf = False


class EmailStatementForm(_PeriodForm):
    """The period of a statement staff e-mail to the company."""


class MonthlyStatementForm(FlaskForm):
    monthly = BooleanField(_l("E-mail this company its statement at the start of each month"))
