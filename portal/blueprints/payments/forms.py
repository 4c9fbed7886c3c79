from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, HiddenField, IntegerField, RadioField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import HiddenInput

from portal.blueprints.forms import ROW_ID, AmountForm
from portal.i18n import money

MAX_INVOICES_PER_PAYMENT = 100


class AttemptForm(AmountForm):
    """A payment form: the attempt it belongs to, and an optional part amount in the invoice's currency,
    at most `at_most` (what can be paid now) when that is known."""

    # Minted when the page is shown: submitting the same page twice is the same payment.
    attempt_key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    amount = StringField(_l("Amount to pay now"), validators=[Optional(), Length(max=32)])

    def __init__(self, *args, at_most: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.at_most = at_most

    def validate_amount(self, field):
        # The payment service refuses these too, in its own words; here the payer is told
        # in the page's language, beside the field, before anything is attempted.
        super().validate_amount(field)
        amount = self.amount_in_minor_units()
        if amount is not None and amount <= 0:
            raise ValidationError(_("Enter an amount greater than zero."))
        if amount is not None and self.at_most is not None and amount > self.at_most:
            raise ValidationError(_("That is more than the %(amount)s that can be paid now.",
                                    amount=money(self.at_most, self.currency)))


class PayForm(AttemptForm):
    invoice = FieldList(IntegerField(validators=[DataRequired(), ROW_ID]), min_entries=1,
                        max_entries=MAX_INVOICES_PER_PAYMENT)
    card = RadioField(_l("Card"), coerce=int, validate_choice=True)
    # The card the Pay button named when it was clicked. Without JavaScript, ticking another
    # card does not change the button: that card is then named, not charged.
    named_card = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def validate_card(self, field):
        if self.named_card.data is not None and self.named_card.data != field.data:
            raise ValidationError(_("You chose another card than the one the Pay button named: nothing was charged. "
                                    "The button now names the card you chose."))


class CardSetupForm(FlaskForm):
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])


class ConfirmForm(FlaskForm):
    """An action on a payment or card that needs only the CSRF token."""
