from flask_babel import lazy_gettext as _l
from flask_wtf.i18n import translations as wtforms_translations
from wtforms import DateField, Form, IntegerField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal.billing.company_fields import MAX_VALUE_LENGTH
from portal.billing.exports import ExportFilters
from portal.billing.history import DEFAULT_PAGE_SIZE, PAGE_SIZES, HistoryQuery, SortKey
from portal.billing.money import parse_amount
from portal.billing.status import CUSTOMER_STATUSES, InvoiceStatus
from portal.blueprints.forms import WholeNumberRange, check_amount
from portal.i18n import STATUS_LABELS

MAX_PAGE = 1_000_000


class HistoryFilterForm(Form):
    """The invoice list's search, filters, sort and page, read from the query string."""

    class Meta:
        # A plain wtforms Form (a GET needs no CSRF token) would give WTForms' own messages
        # ("Not a valid choice.") in English; this gives them the page's language, as FlaskForm does.
        def get_translations(self, form):
            return wtforms_translations

    q = StringField(_l("Search"), validators=[Optional(), Length(max=100)])
    po = StringField(_l("PO number"), validators=[Optional(), Length(max=64)])
    status = SelectField(_l("Status"), choices=[], validate_choice=True, default="")
    issued_from = DateField(_l("Issued from"), validators=[Optional()])
    issued_to = DateField(_l("Issued until"), validators=[Optional()])
    amount_min = StringField(_l("Amount from"), validators=[Optional(), Length(max=32)])
    amount_max = StringField(_l("Amount up to"), validators=[Optional(), Length(max=32)])
    sort = SelectField(_l("Sort by"), choices=[], default=SortKey.DUE_DATE.value)
    direction = SelectField(_l("Order"), choices=[], default="desc")
    page = IntegerField(_l("Page"), validators=[Optional(), WholeNumberRange(min=1, max=MAX_PAGE)], default=1)
    per_page = SelectField(_l("Per page"), choices=[], default=str(DEFAULT_PAGE_SIZE))

    def __init__(self, formdata, *, currency: str, company_fields: list = ()):
        super().__init__(formdata)
        self.currency = currency
        # The company's own fields, filtered on by `field-<id>` in the query string (exact value).
        self.company_fields = list(company_fields)
        self.company_field_values = {
            field.id: " ".join(formdata.get(f"field-{field.id}", "").split())[:MAX_VALUE_LENGTH]
            for field in self.company_fields
        } if formdata is not None else {}
        self.status.choices = [("", _l("All statuses"))] + [(s.value, STATUS_LABELS[s]) for s in CUSTOMER_STATUSES]
        self.sort.choices = [
            (SortKey.DUE_DATE.value, _l("Due date")),
            (SortKey.ISSUE_DATE.value, _l("Issue date")),
            (SortKey.AMOUNT.value, _l("Amount")),
            (SortKey.NUMBER.value, _l("Number")),
        ]
        self.direction.choices = [("desc", _l("Descending")), ("asc", _l("Ascending"))]
        self.per_page.choices = [(str(size), str(size)) for size in PAGE_SIZES]

    def validate_amount_min(self, field):
        check_amount(field, self.currency)

    def validate_amount_max(self, field):
        check_amount(field, self.currency)

    def validate_issued_to(self, field):
        if field.data and self.issued_from.data and field.data < self.issued_from.data:
            raise ValidationError(_l("The end date is before the start date."))

    def export_filters(self, company_id: int | None) -> ExportFilters:
        """The PO, amount range and date range of these filters, for a CSV export."""
        query = self.history_query()
        return ExportFilters(company_id=company_id, po_number=query.po_number, amount_min=query.amount_min,
                             amount_max=query.amount_max, date_from=query.issued_from, date_to=query.issued_to)

    def history_query(self) -> HistoryQuery:
        """The validated filters as the billing domain's query."""
        return HistoryQuery(
            text=(self.q.data or "").strip(),
            po_number=(self.po.data or "").strip() or None,
            status=InvoiceStatus(self.status.data) if self.status.data else None,
            issued_from=self.issued_from.data,
            issued_to=self.issued_to.data,
            amount_min=parse_amount(self.amount_min.data, self.currency) if self.amount_min.data else None,
            amount_max=parse_amount(self.amount_max.data, self.currency) if self.amount_max.data else None,
            company_fields=tuple((field_id, value) for field_id, value in self.company_field_values.items() if value),
            sort=SortKey(self.sort.data),
            descending=self.direction.data != "asc",
            page=self.page.data or 1,
            per_page=int(self.per_page.data),
        )
