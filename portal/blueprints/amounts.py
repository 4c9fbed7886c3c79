"""Amounts typed into forms: "1234.56" (or "1 234,56") in the form's currency, read as minor units."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from portal.billing.errors import InvalidAmount
from portal.billing.money import parse_amount


class AmountForm(FlaskForm):
    """A form whose `amount` field is typed in `currency`; whether it is required is the field's own business."""

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
