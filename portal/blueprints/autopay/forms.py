from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, IntegerField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from portal.autopay.enrolment import EnrolmentTerms
from portal.autopay.run import MAX_DAYS_BEFORE_DUE
from portal.blueprints.forms import ROW_ID, check_amount, typed_amount_in_minor_units

WHEN_TO_CHARGE = [SelectChoice(0, _l("On the due date"))] + [
    SelectChoice(days, lazy_ngettext("%(num)d day before the due date", "%(num)d days before the due date", days))
    for days in range(1, MAX_DAYS_BEFORE_DUE + 1)
]


class TermsForm(FlaskForm):
    """What a clerk chooses: one of the company's cards, when to charge, and an optional maximum
    typed in the company's currency."""

    card = RadioField(_l("Card to charge"), coerce=int, validate_choice=False)
    days_before_due = SelectField(_l("When to charge each invoice"), coerce=int, choices=WHEN_TO_CHARGE, default=0)
    maximum = StringField(_l("Maximum per invoice (optional)"), validators=[Optional(), Length(max=32)])

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def validate_card(self, field):
        if field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_("Choose one of your saved cards."))

    def validate_maximum(self, field):
        check_amount(field, self.currency)
        if field.data and self.maximum_in_minor_units() <= 0:
            raise ValidationError(_("Enter an amount greater than zero."))

    def maximum_in_minor_units(self) -> int | None:
        return typed_amount_in_minor_units(self.maximum.data, self.currency) if self.maximum.data else None

    def terms(self) -> EnrolmentTerms:
        return EnrolmentTerms(card_id=self.card.data, days_before_due=self.days_before_due.data,
                              max_amount=self.maximum_in_minor_units())


class AcceptForm(FlaskForm):
    """The review page's form: the terms as reviewed, the mandate text as shown, and "I accept".

    The terms travel in minor units, not as typed, so the page can change language between
    review and acceptance without the maximum being read another way. Whether they are
    acceptable is the enrolment's business (it refuses in its own words).
    """

    card = IntegerField(widget=HiddenInput(), validators=[InputRequired(), ROW_ID])
    days_before_due = IntegerField(widget=HiddenInput(), validators=[InputRequired()])
    max_amount = IntegerField(widget=HiddenInput(), validators=[Optional()])
    mandate = HiddenField(validators=[DataRequired(), Length(max=10_000)])
    accept = BooleanField(_l("I have read this authorisation and I accept it"),
                          validators=[DataRequired(message=_l("Tick the box to accept the authorisation."))])

    def terms(self) -> EnrolmentTerms | None:
        """The terms posted, or None if they cannot be read."""
        if self.card.errors or self.days_before_due.errors or self.max_amount.errors:
            return None
        if self.card.data is None or self.days_before_due.data is None:
            return None
        return EnrolmentTerms(card_id=self.card.data, days_before_due=self.days_before_due.data,
                              max_amount=self.max_amount.data)

    def accepted_text(self) -> str:
        # Browsers post a hidden field's line breaks as CRLF; the mandate was shown with LF.
        return (self.mandate.data or "").replace("\r\n", "\n")
