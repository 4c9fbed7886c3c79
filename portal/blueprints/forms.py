"""Form pieces the blueprints share: amounts typed in a currency, ids of rows."""

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms.validators import NumberRange, ValidationError

from portal.billing.errors import InvalidAmount
from portal.billing.money import parse_amount
from portal.db import MAX_ROW_ID
from portal.i18n import amount_example


class WholeNumberRange(NumberRange):
    """NumberRange for an IntegerField: WTForms' own first asks `math.isnan`, which raises
    OverflowError (a 500) for a number of hundreds of digits; such a number is out of range."""

    def __call__(self, form, field):
        try:
            super().__call__(form, field)
        except OverflowError:
            lowest, highest = self._resolve(self.min), self._resolve(self.max)
            if self.message:
                raise ValidationError(self.message % {"min": lowest, "max": highest}) from None
            raise ValidationError(_("Enter a number between %(min)s and %(max)s.", min=lowest, max=highest)) from None


#: An id sent in a form: beyond what the database stores it is refused as invalid, never looked up.
ROW_ID = WholeNumberRange(min=1, max=MAX_ROW_ID)


def row_ids(values) -> list[int]:
    """Those of `values` (strings or ints) that can be ids of rows, in order; anything else is dropped."""
    numbers = (int(value) if isinstance(value, str) and value.isdigit() else value for value in values)
    return [number for number in numbers if isinstance(number, int) and 1 <= number <= MAX_ROW_ID]


def typed_amount_in_minor_units(text: str, currency: str) -> int:
    """What was typed on the page as minor units of `currency`, read in the page's language
    ("1 234,56" in French, "1,234.56" in English); `InvalidAmount` if it is no such amount."""
    return parse_amount(text, currency, locale=str(get_locale()))


def check_amount(field, currency: str) -> None:
    """Validate `field`, if filled in, as an amount in `currency`; the refusal shows an example in that currency."""
    if field.data:
        try:
            typed_amount_in_minor_units(field.data, currency)
        except InvalidAmount:
            raise ValidationError(_("Enter an amount such as %(example)s.", example=amount_example(currency))) from None


class AmountForm(FlaskForm):
    """A form whose `amount` field is typed in `currency` ("1234.56") and read as minor units;
    whether it is required is the field's own business."""

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def validate_amount(self, field):
        check_amount(field, self.currency)

    def amount_in_minor_units(self) -> int | None:
        return typed_amount_in_minor_units(self.amount.data, self.currency) if self.amount.data else None
