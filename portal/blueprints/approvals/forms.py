from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from portal.blueprints.forms import AmountForm


class RuleForm(AmountForm):
    """The company's approval threshold; left empty, payments need no approval."""

    amount = StringField(_l("Payments above this amount wait for a second person's approval"),
                         validators=[Optional(), Length(max=32)])
    payers_may_approve = BooleanField(_l("Payers may approve each other's payments (admins always may)"))


class RejectForm(FlaskForm):
    note = TextAreaField(_l("Why (sent to the person who prepared it)"), validators=[Optional(), Length(max=1000)])
