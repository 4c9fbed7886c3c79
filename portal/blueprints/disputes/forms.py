from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.blueprints.forms import AmountForm, check_amount, typed_amount_in_minor_units
from portal.disputes.attachments import Upload
from portal.disputes.service import MAX_MESSAGE_LENGTH, MAX_NOTE_LENGTH, DisputeClaim
from portal.i18n import DISPUTE_REASON_LABELS, money
from portal.models import DisputeReason, Invoice

ATTACHMENTS_LABEL = _l("Attachments (PDF, PNG or JPEG)")


def uploads(field: MultipleFileField) -> tuple[Upload, ...]:
    """The files chosen in `field`; a file input left empty sends one nameless part, which is no file."""
    return tuple(Upload(filename=storage.filename, stream=storage.stream)
                 for storage in field.data or [] if storage and storage.filename)


class RaiseDisputeForm(FlaskForm):
    reason = SelectField(_l("Reason"), choices=[], validators=[DataRequired(message=_l("Choose a reason."))])
    scope = RadioField(_l("What do you dispute?"), choices=[], default="all")
    # No Optional(): it would stop validation of an empty amount before `validate_amount`,
    # which requires one when the scope is "amount".
    amount = StringField(_l("Amount disputed"), validators=[Length(max=32)])
    lines = SelectMultipleField(_l("Invoice lines disputed"), coerce=int, choices=[],
                                widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    message = TextAreaField(_l("Explain what is wrong"), validators=[DataRequired(), Length(max=MAX_MESSAGE_LENGTH)])
    attachments = MultipleFileField(ATTACHMENTS_LABEL)

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = invoice.currency
        self.reason.choices = [("", _l("Choose a reason"))] + [
            (reason.value, DISPUTE_REASON_LABELS[reason]) for reason in DisputeReason
        ]
        self.scope.choices = [("all", _l("All that is still due")), ("amount", _l("Part of it: the amount below")),
                              ("lines", _l("The invoice lines ticked below"))]
        self.lines.choices = [(line.id, f"{line.description} — {money(line.amount_total, invoice.currency)}")
                              for line in invoice.lines]

    def validate_scope(self, field):
        if field.data not in ("all", "amount", "lines"):
            raise ValidationError(_l("Choose what you dispute."))

    def validate_amount(self, field):
        if self.scope.data != "amount":
            return
        if not field.data:
            raise ValidationError(_l("Enter the amount you dispute."))
        check_amount(field, self.currency)

    def validate_lines(self, field):
        if self.scope.data == "lines" and not field.data:
            raise ValidationError(_l("Tick the lines you dispute."))

    def claim(self) -> DisputeClaim:
        """The validated form as the disputes domain's claim."""
        return DisputeClaim(
            reason=self.reason.data,
            message=self.message.data,
            amount=(typed_amount_in_minor_units(self.amount.data, self.currency)
                    if self.scope.data == "amount" else None),
            line_ids=tuple(self.lines.data or ()) if self.scope.data == "lines" else (),
            uploads=uploads(self.attachments),
        )


class MessageForm(FlaskForm):
    body = TextAreaField(_l("Your message"), validators=[DataRequired(), Length(max=MAX_MESSAGE_LENGTH)])
    attachments = MultipleFileField(ATTACHMENTS_LABEL)


class StaffMessageForm(MessageForm):
    # The second submit button of the same form: send, and wait for the customer's answer.
    ask_customer = SubmitField(_l("Send and ask the customer for more information"))


class CreditForm(AmountForm):
    amount = StringField(_l("Amount to credit"), validators=[DataRequired(), Length(max=32)])
    credit_note_number = StringField(_l("Credit note number"), validators=[DataRequired(), Length(max=64)])
    note = TextAreaField(_l("Note to the customer"), validators=[Optional(), Length(max=MAX_NOTE_LENGTH)])


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Why the dispute is rejected"), validators=[DataRequired(), Length(max=MAX_NOTE_LENGTH)])


class ConfirmForm(FlaskForm):
    """An action on a dispute that needs only the CSRF token."""
