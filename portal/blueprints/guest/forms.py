from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField
from wtforms.validators import DataRequired, Length, Regexp

from portal.blueprints.payments.forms import AttemptForm


class GuestPayForm(AttemptForm):
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])
    email = EmailField(_l("E-mail for your receipt"), validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address such as name@company.com.")),
    ])


class GuestSeveralPayForm(FlaskForm):
    """Paying several invoices of a link: the amounts the page showed travel with the form, so exactly they are charged."""

    attempt_key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    setup_id = HiddenField(validators=[DataRequired(), Regexp(r"^[A-Za-z0-9_]{3,255}$")])
    # "invoice id:amount" pairs, comma-separated, in the page's order.
    shown = HiddenField(validators=[DataRequired(), Length(max=4000), Regexp(r"^\d{1,19}:\d{1,19}(,\d{1,19}:\d{1,19})*$")])
    email = EmailField(_l("E-mail for your receipt"), validators=[
        DataRequired(), Length(max=254),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an e-mail address such as name@company.com.")),
    ])

    def show(self, payable) -> None:
        """Carry what the page shows (a list of `PayableInvoice`) in the form."""
        self.shown.data = ",".join(f"{line.invoice.id}:{line.amount}" for line in payable)

    def shown_amounts(self) -> list[tuple[int, int]]:
        return [(int(invoice_id), int(amount)) for invoice_id, amount in
                (pair.split(":") for pair in self.shown.data.split(","))]
