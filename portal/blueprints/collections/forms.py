from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional

from portal.blueprints.forms import ROW_ID, AmountForm


class CreditRefundForm(AmountForm):
    """Giving back a payment's unallocated credit."""

    amount = StringField(_l("Amount to refund"), validators=[DataRequired(), Length(max=32)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class AttentionClearedForm(FlaskForm):
    note = StringField(_l("What was done"), validators=[DataRequired(), Length(max=500)])


class RefundForm(AmountForm):
    allocation_id = IntegerField(validators=[DataRequired(), ROW_ID])
    amount = StringField(_l("Amount to refund"), validators=[DataRequired(), Length(max=32)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
