from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from portal.billing.errors import InvalidAmount
from portal.billing.money import parse_amount


class RefundForm(FlaskForm):
    allocation_id = IntegerField(validators=[DataRequired()])
    amount = StringField(_l("Amount to refund"), validators=[DataRequired(), Length(max=32)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def validate_amount(self, field):
        try:
            parse_amount(field.data, self.currency)
        except InvalidAmount:
            raise ValidationError(_l("Enter an amount such as 1234.56.")) from None

    def amount_in_minor_units(self) -> int:
        return parse_amount(self.amount.data, self.currency)
