from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.accounts.permissions import Action, Role
from portal.blueprints.api.schemas import EMAIL
from portal.i18n import LANGUAGE_NAMES
from portal.models import InvoiceFormat, RecipientPurpose

ROLE_LABELS = {Role.ADMIN: _l("Administrator"), Role.PAYER: _l("Payer"), Role.VIEWER: _l("Viewer")}
ROLE_DESCRIPTIONS = {
    Role.ADMIN: _l("Everything a payer does, and manages users, recipients and the company's fields."),
    Role.PAYER: _l("Pays invoices, saves cards, sets up autopay and disputes invoices."),
    Role.VIEWER: _l("Sees invoices and payments, downloads and exports them; changes nothing."),
}
ACTION_LABELS = {
    Action.VIEW_INVOICES: _l("See invoices, payments, disputes and autopay"),
    Action.DOWNLOAD: _l("Download invoice PDFs and dispute attachments"),
    Action.EXPORT: _l("Export invoices and payments (CSV)"),
    Action.FILL_FIELDS: _l("Fill in the company's fields on invoices"),
    Action.PAY: _l("Pay invoices"),
    Action.SAVE_CARDS: _l("Save and remove cards"),
    Action.AUTOPAY: _l("Set up and stop autopay"),
    Action.DISPUTE: _l("Dispute invoices"),
    Action.APPROVE_PAYMENTS: _l("Approve payments above the approval amount"),
    Action.SET_APPROVAL_RULE: _l("Set the amount above which payments wait for approval"),
    Action.MANAGE_USERS: _l("Invite users, change roles, disable users"),
    Action.MANAGE_RECIPIENTS: _l("Choose who receives invoices and other e-mails"),
    Action.MANAGE_FIELDS: _l("Define the company's own fields"),
}
PURPOSE_LABELS = {
    RecipientPurpose.INVOICES: _l("Invoices"),
    RecipientPurpose.REMINDERS: _l("Reminders"),
    RecipientPurpose.RECEIPTS: _l("Payment receipts"),
    RecipientPurpose.STATEMENTS: _l("Statements"),
}
FORMAT_LABELS = {
    InvoiceFormat.PDF: _l("PDF attached"),
    InvoiceFormat.FACTURX: _l("Factur-X attached (PDF with the invoice data inside)"),
    InvoiceFormat.LINK: _l("Link only, nothing attached"),
}


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(str(value), label) for value, label in labels.items()]


_EMAIL = [DataRequired(), Length(max=254), Regexp(EMAIL["pattern"], message=_l("Enter an e-mail address."))]


class ProfileForm(FlaskForm):
    full_name = StringField(_l("Your name"), validators=[Length(max=200)])
    locale = SelectField(_l("Language"), choices=_choices({"": _l("My company's language"), **LANGUAGE_NAMES}))


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=_EMAIL)
    role = SelectField(_l("Role"), choices=_choices(ROLE_LABELS), default=Role.PAYER)


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_choices(ROLE_LABELS))


class RecipientChoicesForm(FlaskForm):
    purposes = SelectMultipleField(_l("Receives"), choices=_choices(PURPOSE_LABELS),
                                   widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    invoice_format = RadioField(_l("With each invoice"), choices=_choices(FORMAT_LABELS),
                                default=InvoiceFormat.PDF)

    def validate_purposes(self, field):
        if not field.data:
            raise ValidationError(_("Choose at least one kind of e-mail."))


class NewRecipientForm(RecipientChoicesForm):
    email = EmailField(_l("E-mail"), validators=_EMAIL)


# What a refusal of the company's fields (FieldError's `code`) says; `%(field)s` is the field's label.
FIELD_REFUSALS = {
    "unknown_field": _l("That field no longer exists. Reload the page."),
    "value_too_long": _l("%(field)s: at most 200 characters."),
    "not_a_choice": _l("%(field)s: choose one of the values in the list."),
    "too_many_fields": _l("A company has at most 10 fields of its own."),
    "label_required": _l("Give the field a name."),
    "label_too_long": _l("A field's name has at most 60 characters."),
    "label_taken": _l("Another field already has this name."),
    "choices_required": _l("A list needs at least one value, one per line."),
    "too_many_choices": _l("A list has at most 50 values of at most 200 characters each."),
}


def field_refusal(code: str, label: str = "") -> str:
    return str(FIELD_REFUSALS[code]) % {"field": label}


class CompanyFieldForm(FlaskForm):
    label = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    kind = RadioField(_l("Kind"), choices=_choices({"text": _l("Free text"), "choice": _l("A value from a list")}),
                      default="text")
    choices = TextAreaField(_l("Values, one per line (for a list)"), validators=[Length(max=12_000)])

    def choice_lines(self) -> list[str]:
        return (self.choices.data or "").splitlines()
