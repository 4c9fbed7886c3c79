from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal.billing.errors import InvalidAmount
from portal.billing.money import parse_amount

MAX_INVOICES_PER_PAYMENT = 100


class PayForm(FlaskForm):
    invoice = FieldList(IntegerField(validators=[DataRequired()]), min_entries=1,
                        max_entries=MAX_INVOICES_PER_PAYMENT)
    # Minted when the page is shown: submitting the same page twice is the same payment.
    attempt_key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    card = RadioField(_l("Card"), coerce=int, validate_choice=True)
    amount = StringField(_l("Amount to pay now"), validators=[Optional(), Length(max=32)])

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def validate_amount(self, field):
        if field.data:
            try:
                parse_amount(field.data, self.currency)
            except InvalidAmount:
                raise ValidationError(_l("Enter an amount such as 1234.56.")) from None

    def amount_in_minor_units(self) -> int | None:
        return parse_amount(self.amount.data, self.currency) if self.amount.data else None


class CardSetupForm(FlaskForm):
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])


class ConfirmForm(FlaskForm):
    """An action on a payment or card that needs only the CSRF token."""
