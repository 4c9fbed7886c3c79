"""Form pieces the blueprints share: amounts typed in a currency, ids of rows."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.validators import NumberRange, ValidationError

from portal.billing.errors import InvalidAmount
from portal.billing.money import parse_amount
from portal.db import MAX_ROW_ID


#: An id sent in a form: beyond what the database stores it is refused as invalid, never looked up.
ROW_ID = NumberRange(min=1, max=MAX_ROW_ID)


def row_ids(values) -> list[int]:
    """Those of `values` (strings or ints) that can be ids of rows, in order; anything else is dropped."""
    numbers = (int(value) if isinstance(value, str) and value.isdigit() else value for value in values)
    return [number for number in numbers if isinstance(number, int) and 1 <= number <= MAX_ROW_ID]


def check_amount(field, currency: str) -> None:
    """Validate `field`, if filled in, as an amount in `currency`."""
    if field.data:
        try:
            parse_amount(field.data, currency)
        except InvalidAmount:
            raise ValidationError(_l("Enter an amount such as 1234.56.")) from None


class AmountForm(FlaskForm):
    """A form whose `amount` field is typed in `currency` ("1234.56") and read as minor units;
    whether it is required is the field's own business."""

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def validate_amount(self, field):
        check_amount(field, self.currency)

    def amount_in_minor_units(self) -> int | None:
        return parse_amount(self.amount.data, self.currency) if self.amount.data else None
