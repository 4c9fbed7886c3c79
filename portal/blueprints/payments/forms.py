from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.blueprints.forms import ROW_ID, AmountForm

MAX_INVOICES_PER_PAYMENT = 100


class AttemptForm(AmountForm):
    """A payment form: the attempt it belongs to, and an optional part amount in the invoice's currency."""

    # Minted when the page is shown: submitting the same page twice is the same payment.
    attempt_key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    amount = StringField(_l("Amount to pay now"), validators=[Optional(), Length(max=32)])


class PayForm(AttemptForm):
    invoice = FieldList(IntegerField(validators=[DataRequired(), ROW_ID]), min_entries=1,
                        max_entries=MAX_INVOICES_PER_PAYMENT)
    card = RadioField(_l("Card"), coerce=int, validate_choice=True)


class CardSetupForm(FlaskForm):
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])


class ConfirmForm(FlaskForm):
    """An action on a payment or card that needs only the CSRF token."""
