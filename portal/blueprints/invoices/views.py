from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from portal import clock
from portal.accounts.permissions import Action
from portal.audit import Actor
from portal.autopay.enrolment import autopay_dates, invoice_plan, live_enrolment
from portal.billing import company_fields, exports, history
from portal.billing.documents import labelled_custom_fields
from portal.billing.payable import undisputed_amount_due
from portal.billing.status import invoice_status
from portal.blueprints.account.forms import field_refusal
from portal.blueprints.downloads import csv_download
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.invoices import blueprint, caching
from portal.blueprints.invoices.forms import HistoryFilterForm
from portal.db import MAX_ROW_ID
from portal.disputes import service as disputes
from portal.extensions import db, htmx
from portal.formats import LocaleFormats, formats_for
from portal.i18n import status_labels
from portal.models import Invoice
from portal.reminders.history import last_reminded_on


@blueprint.route("")
@permission_required(Action.VIEW_INVOICES)
def index():
    company = current_company()
    fragment_only = bool(htmx and not htmx.history_restore_request)
    etag = caching.page_etag("invoice list", company, fragment_only)
    if caching.not_modified(etag):
        return caching.privately_cached(Response(status=304), etag)
    cache = caching.page_cache()
    content_key = caching.rendering_key("invoice list page", company)
    content = None if fragment_only else cache.get(content_key)
    if content is None:
        results_key = caching.rendering_key("invoice list results", company)
        results = cache.get(results_key)
        filters = _FilterForm(company)
        if results is None:
            query = filters.valid_query()
            if query is None:
                return _refused_filters(company, filters.form(), fragment_only)
            results = _render_results(company, query)
            cache.set(results_key, results)
        if fragment_only:
            return caching.privately_cached(make_response(results), etag)
        content = render_template("invoices/_content.html", filters=filters.rendered(), results=Markup(results),
                                  owed_section=_owed_section(company))
        cache.set(content_key, content)
    return caching.privately_cached(make_response(render_template("invoices/index.html", content=Markup(content))), etag)


def _refused_filters(company, form: HistoryFilterForm, fragment_only: bool):
    """The filters' errors, in the fragment or the page (400); nothing of it is cached."""
    if fragment_only:
        return render_template("invoices/_results.html", form=form, page=None), 400
    filters = Markup(render_template("invoices/_filters.html", form=form))
    content = render_template("invoices/_content.html", filters=filters, form=form, page=None, results=None,
                              owed_section=_owed_section(company))
    return render_template("invoices/index.html", content=Markup(content)), 400


class _FilterForm:
    """The list's filter form for this request's query string, built only when it must be: a valid query
    string's query and the form's rendering are kept, keyed on what they depend on (the query string, the
    page's language, the company's currency and the definitions of its own fields), not on its data."""

    def __init__(self, company):
        self._company = company
        self._fields = company_fields.company_fields(db.session, company.id)
        self._form: HistoryFilterForm | None = None
        definitions = tuple((field.id, field.label, field.kind, tuple(field.choices)) for field in self._fields)
        self._key = caching.query_rendering_key("invoice list filters", company.currency, definitions)

    def form(self) -> HistoryFilterForm:
        if self._form is None:
            self._form = HistoryFilterForm(request.args, currency=self._company.currency, company_fields=self._fields)
        return self._form

    def valid_query(self) -> history.HistoryQuery | None:
        """The query the string asks for, or None if the form refuses it (`form().errors` says why)."""
        queries = caching.valid_queries()
        query = queries.get(self._key)
        if query is None:
            if not self.form().validate():
                return None
            query = self.form().history_query()
            queries.set(self._key, query)
        return query

    def rendered(self) -> Markup:
        """The form of a valid query string, as the page shows it."""
        filters = caching.page_cache().get(self._key)
        if filters is None:
            filters = render_template("invoices/_filters.html", form=self.form())
            caching.page_cache().set(self._key, filters)
        return Markup(filters)


def _render_results(company, query: history.HistoryQuery) -> str:
    """The list's results (count, table, pager) for a valid `query`: what htmx swaps in, and the page includes."""
    today = clock.today()
    page = history.invoice_list(db.session, company.id, query, today=today, currency=company.currency)
    # The day autopay will charge each row it will charge: a fixed number of queries for the whole page.
    autopay_on = autopay_dates(db.session, company.id, [row.id for row in page.rows], today=today)
    return render_template("invoices/_results.html", page=page, rows_html=_rows_html(
        page.rows, autopay_on, formats_for(str(get_locale())), can_pay=current_user.can_pay))


def _rows_html(rows: list[history.ListRow], autopay_on: dict, fmt: LocaleFormats, *, can_pay: bool) -> Markup:
    """The table's rows, written here rather than by the template: the list is the portal's busiest page,
    and Jinja spends on its 50 rows of 9 cells several times what these f-strings do. Every value
    from the database goes through `escape`; labels, formats and URL patterns are looked up once a page."""
    detail_url, pdf_url, labels = url_for_each("invoices.detail"), url_for_each("invoices.pdf"), status_labels()
    select_before, select_after = _around(_("Select %(number)s to pay"), "%(number)s")
    autopay_label = _around(_("Autopay on %(date)s"), "%(date)s")
    reminded_label = _around(_("Reminded on %(date)s"), "%(date)s")
    pdf_label = escape(_("PDF"))
    written = []
    for row in rows:
        number, status = escape(row.number), escape(row.status)
        select = ""
        if can_pay:
            select = "<td></td>" if row.payable <= 0 else (
                f'<td><input type="checkbox" name="invoice" value="{row.id}" '
                f'aria-label="{select_before}{number}{select_after}"></td>')
        autopay_note = _day_note("autopay-date", autopay_on.get(row.id), autopay_label, fmt)
        reminded_note = _day_note("reminded-on", row.reminded_on, reminded_label, fmt)
        written.append(
            f'<tr class="status-{status}">{select}'
            f'<td class="number"><a href="{escape(detail_url(row.id))}">{number}</a></td>'
            f'<td class="secondary">{escape(row.po_number or "")}</td>'
            f'<td class="secondary">{escape(fmt.short_date(row.issue_date))}</td>'
            f'<td>{escape(fmt.short_date(row.due_date))}{autopay_note}</td>'
            f'<td class="num secondary">{escape(fmt.money(row.amount_total, row.currency))}</td>'
            f'<td class="num">{escape(fmt.money(row.amount_due, row.currency))}</td>'
            f'<td><span class="badge badge-{status}">{escape(labels[row.status])}</span>{reminded_note}</td>'
            f'<td class="secondary"><a href="{escape(pdf_url(row.id))}" download>{pdf_label}</a></td></tr>'
        )
    return Markup("".join(written))


def _around(text: str, placeholder: str) -> tuple[Markup, Markup]:
    """A translated text's escaped parts before and after its `placeholder`: each row's value goes between."""
    before, _placeholder, after = text.partition(placeholder)
    return escape(before), escape(after)


def _day_note(name: str, day, label: tuple[Markup, Markup], fmt: LocaleFormats) -> str:
    """A row's dated note below a cell (`name` its class and, as `data-<name>`, its ISO day), or nothing."""
    if day is None:
        return ""
    before, after = label
    return (f'<br><small class="{name}" data-{name}="{day.isoformat()}">'
            f'{before}{escape(fmt.day_and_month(day))}{after}</small>')


def _owed_section(company) -> Markup:
    """The "what you owe" figures, rendered once per data version, locale and day."""
    key = caching.company_rendering_key("what you owe", company)
    section = caching.page_cache().get(key)
    if section is None:
        owed = history.amount_owed(db.session, company.id, today=clock.today())
        section = render_template("invoices/_owed.html", owed=owed, fmt=formats_for(str(get_locale())))
        caching.page_cache().set(key, section)
    return Markup(section)


def url_for_each(endpoint: str):
    """`url_for(endpoint, invoice_id=…)` for a page of invoices at the cost of one call: the rule's text around the id."""
    sentinel = str(MAX_ROW_ID)
    before, _, after = url_for(endpoint, invoice_id=sentinel).partition(sentinel)
    return lambda invoice_id: f"{before}{invoice_id}{after}"


@blueprint.route("/<int:invoice_id>")
@permission_required(Action.VIEW_INVOICES)
def detail(invoice_id: int):
    company = current_company()
    invoice = history.find_customer_invoice(db.session, company.id, invoice_id)
    autopay = live_enrolment(db.session, company.id)
    return render_template(
        "invoices/detail.html",
        invoice=invoice,
        status=invoice_status(invoice, clock.today()),
        settlements=history.invoice_settlements(db.session, invoice),
        timeline=history.invoice_timeline(db.session, invoice),
        disputes=disputes.invoice_disputes(db.session, invoice),
        active_dispute=disputes.active_dispute(db.session, invoice.id),
        payable=undisputed_amount_due(db.session, invoice),
        can_dispute=current_user.can(Action.DISPUTE) and disputes.dispute_refusal(db.session, invoice) is None,
        company_fields=company_fields.company_fields(db.session, company.id),
        field_values=company_fields.invoice_field_values(db.session, invoice),
        autopay_plan=invoice_plan(db.session, autopay, invoice, today=clock.today()),
        autopay=autopay,
        custom_fields=labelled_custom_fields(db.session, invoice.custom_fields, str(get_locale())),
        reminded_on=last_reminded_on(db.session, [invoice.id]).get(invoice.id),
    )


@blueprint.route("/export.csv")
@permission_required(Action.EXPORT)
def export():
    company, form = _export_form()
    listed = history.history_statement(company.id, form.history_query(), today=clock.today(),
                                       currency=company.currency)
    # The company's own fields come as columns of their own, after the supplier's.
    fields = company_fields.company_fields(db.session, company.id)
    return csv_download(exports.invoices_as_csv(db.session, listed, today=clock.today(), fields=fields),
                        f"invoices-{company.external_ref}-{clock.today().isoformat()}.csv")


@blueprint.route("/payments.csv")
@permission_required(Action.EXPORT)
def export_payments():
    company, form = _export_form()
    # The payments of the invoices the list shows, with the same search, filters and sort.
    listed = history.history_statement(company.id, form.history_query(), today=clock.today(),
                                       currency=company.currency).with_only_columns(Invoice.id).order_by(None)
    return csv_download(exports.payment_csv(db.session, exports.ExportFilters(company_id=company.id, invoices=listed)),
                        f"payments-{company.external_ref}-{clock.today().isoformat()}.csv")


def _export_form() -> tuple:
    company = current_company()
    form = HistoryFilterForm(request.args, currency=company.currency)
    if not form.validate():
        abort(400)
    return company, form


@blueprint.route("/<int:invoice_id>/fields", methods=["POST"])
@permission_required(Action.FILL_FIELDS)
def fill_fields(invoice_id: int):
    """Fill in the company's own fields on one of its invoices; a refused value changes nothing."""
    company = current_company()
    invoice = history.find_customer_invoice(db.session, company.id, invoice_id)
    fields = company_fields.company_fields(db.session, company.id)
    try:
        company_fields.fill_invoice_fields(db.session, Actor.user(current_user), invoice,
                                           {field.id: request.form.get(f"field-{field.id}", "") for field in fields})
    except company_fields.FieldError as refusal:
        labels = {field.id: field.label for field in fields}
        flash(field_refusal(refusal.code, labels.get(refusal.field_id, "")), "error")
        return redirect(url_for("invoices.detail", invoice_id=invoice.id, _anchor="company-fields"), code=303)
    flash(_("Your fields are saved."), "success")
    return redirect(url_for("invoices.detail", invoice_id=invoice.id, _anchor="company-fields"), code=303)
