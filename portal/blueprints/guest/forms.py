from flask_babel import lazy_gettext as _l
from wtforms import EmailField, HiddenField
from wtforms.validators import DataRequired, Length, Regexp

from portal.blueprints.payments.forms import AttemptForm


class GuestPayForm(AttemptForm):
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])
    email = EmailField(_l("E-mail for your receipt"), validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address such as name@company.com.")),
    ])
