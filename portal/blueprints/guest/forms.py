from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal.billing.errors import InvalidAmount
from portal.billing.money import parse_amount


class GuestPayForm(FlaskForm):
    attempt_key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])
    email = EmailField(_l("E-mail for your receipt"), validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address such as name@company.com.")),
    ])
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
