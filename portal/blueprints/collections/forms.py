from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from wtforms import DateField, EmailField, Form, HiddenField, IntegerField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from portal.billing.status import CUSTOMER_STATUSES, InvoiceStatus
from portal.blueprints.api.schemas import EMAIL
from portal.blueprints.forms import ROW_ID, AmountForm, WholeNumberRange
from portal.blueprints.invoices.forms import MAX_PAGE, HistoryFilterForm
from portal.collections.companies import CompanyQuery, CompanySort
from portal.collections.invoices import InvoiceSearch
from portal.collections.pages import DEFAULT_PAGE_SIZE, PAGE_SIZES
from portal.collections.payments import PaymentMethod, PaymentQuery
from portal.i18n import PAYMENT_METHOD_LABELS, PAYMENT_STATUS_LABELS, STATUS_LABELS
from portal.models import OfflineMethod, PaymentStatus

#: Amounts typed in the staff filters are read in this currency's decimals (the customers' usual currency).
STAFF_FILTER_CURRENCY = "EUR"

#: The key a confirmation page gives its form, so confirming twice gives back the money once.
ATTEMPT_KEY = [Optional(), Regexp(r"^[0-9a-f]{32}$")]


class CreditRefundForm(AmountForm):
    """Giving back a payment's unallocated credit; nothing is sent until `confirmed` comes back from the confirmation page."""

    amount = StringField(_l("Amount to refund"), validators=[DataRequired(), Length(max=32)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    confirmed = HiddenField()
    attempt_key = HiddenField(validators=ATTEMPT_KEY)


class AttentionClearedForm(FlaskForm):
    note = StringField(_l("What was done"), validators=[DataRequired(), Length(max=500)])


class SendMailAgainForm(FlaskForm):
    """Put an e-mail the outbox gave up on back in it (the button carries only the CSRF token)."""


class RefundForm(AmountForm):
    """Giving back part of what one invoice received; nothing is sent until `confirmed` comes back from the confirmation page."""

    allocation_id = IntegerField(validators=[DataRequired(), ROW_ID])
    amount = StringField(_l("Amount to refund"), validators=[DataRequired(), Length(max=32)])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])
    confirmed = HiddenField()
    attempt_key = HiddenField(validators=ATTEMPT_KEY)


class MoneyReceivedForm(AmountForm):
    """A bank transfer or cheque: how much, when, its reference. Which invoices it settles, and each one's
    share, come as `invoice` checkboxes and `share-<invoice id>` amounts (see `chosen_shares`)."""

    method = RadioField(_l("Received by"), choices=[SelectChoice(OfflineMethod.BANK_TRANSFER.value, _l("Bank transfer")),
                                                   SelectChoice(OfflineMethod.CHEQUE.value, _l("Cheque"))],
                        default=OfflineMethod.BANK_TRANSFER.value, validators=[InputRequired()])
    reference = StringField(_l("Reference of the transfer, or cheque number"),
                            validators=[DataRequired(), Length(max=255)])
    received_on = DateField(_l("Date received"), validators=[InputRequired()])
    amount = StringField(_l("Amount received"), validators=[DataRequired(), Length(max=32)])
    currency_code = SelectField(_l("Currency"), validators=[InputRequired()])
    attempt_key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])


class CancelPaymentForm(FlaskForm):
    """Taking back a transfer or cheque recorded by mistake."""

    reason = StringField(_l("Why it is cancelled"), validators=[DataRequired(), Length(max=500)])


class QueryForm(Form):
    """A list's filters, read from the query string (a GET needs no CSRF token), with WTForms' own
    messages in the page's language as FlaskForm gives them."""

    class Meta:
        def get_translations(self, form):
            return wtforms_translations

    page = IntegerField(_l("Page"), validators=[Optional(), WholeNumberRange(min=1, max=MAX_PAGE)], default=1)
    per_page = SelectField(_l("Per page"), choices=[], default=str(DEFAULT_PAGE_SIZE))

    def __init__(self, formdata):
        super().__init__(formdata)
        self.per_page.choices = [(str(size), str(size)) for size in PAGE_SIZES]


class CompanyFilterForm(QueryForm):
    q = StringField(_l("Customer"), validators=[Optional(), Length(max=100)])
    sort = SelectField(_l("Sort by"), choices=[], default=CompanySort.BALANCE.value)

    def __init__(self, formdata):
        super().__init__(formdata)
        self.sort.choices = [(CompanySort.BALANCE.value, _l("Balance, largest first")),
                             (CompanySort.OLDEST_OVERDUE.value, _l("Oldest overdue invoice first")),
                             (CompanySort.NAME.value, _l("Name"))]

    def company_query(self) -> CompanyQuery:
        return CompanyQuery(text=(self.q.data or "").strip(), sort=CompanySort(self.sort.data),
                            page=self.page.data or 1, per_page=int(self.per_page.data))


class StaffInvoiceFilterForm(HistoryFilterForm):
    """The customer list's filters, plus the company; drafts can be asked for too."""

    company = StringField(_l("Customer"), validators=[Optional(), Length(max=100)])

    def __init__(self, formdata):
        super().__init__(formdata, currency=STAFF_FILTER_CURRENCY)
        self.status.choices = [("", _l("All statuses"))] + [
            (status.value, STATUS_LABELS[status]) for status in (*CUSTOMER_STATUSES, InvoiceStatus.DRAFT)]

    def invoice_search(self) -> InvoiceSearch:
        return InvoiceSearch(filters=self.history_query(), company=(self.company.data or "").strip())


class PaymentFilterForm(QueryForm):
    date_from = DateField(_l("Dated from"), validators=[Optional()])
    date_to = DateField(_l("Dated until"), validators=[Optional()])
    company = StringField(_l("Customer"), validators=[Optional(), Length(max=100)])
    status = SelectField(_l("Status"), choices=[], default="")
    method = SelectField(_l("Method"), choices=[], default="")

    def __init__(self, formdata):
        super().__init__(formdata)
        self.status.choices = [("", _l("All statuses"))] + [
            (status.value, PAYMENT_STATUS_LABELS[status]) for status in PaymentStatus]
        self.method.choices = [("", _l("All methods"))] + [
            (method.value, PAYMENT_METHOD_LABELS[method]) for method in PaymentMethod]

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_l("The end date is before the start date."))

    def payment_query(self) -> PaymentQuery:
        return PaymentQuery(date_from=self.date_from.data, date_to=self.date_to.data,
                            company=(self.company.data or "").strip(), status=self.status.data or None,
                            method=PaymentMethod(self.method.data) if self.method.data else None,
                            page=self.page.data or 1, per_page=int(self.per_page.data))


class VoidForm(FlaskForm):
    reason = StringField(_l("Why it is voided"), validators=[DataRequired(), Length(max=500)])


class StaffInvitationForm(FlaskForm):
    # The supplier API's rule for an address (one that can go into an e-mail header).
    email = EmailField(_l("E-mail address"), validators=[
        DataRequired(), Length(max=254), Regexp(EMAIL["pattern"], message=_l("Enter an e-mail address."))])
    full_name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
