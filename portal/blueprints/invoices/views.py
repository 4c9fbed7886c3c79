from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal import clock
from portal.accounts.permissions import Action
from portal.audit import Actor
from portal.autopay.enrolment import autopay_dates, invoice_plan, live_enrolment
from portal.billing import company_fields, exports, history
from portal.billing.documents import labelled_custom_fields
from portal.billing.payable import undisputed_amount_due, undisputed_amounts_due
from portal.billing.status import invoice_status
from portal.blueprints.account.forms import field_refusal
from portal.blueprints.downloads import csv_download
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.invoices import blueprint
from portal.blueprints.invoices.forms import HistoryFilterForm
from portal.disputes import service as disputes
from portal.extensions import db, htmx
from portal.models import Invoice
from portal.reminders.history import last_reminded_on


@blueprint.route("")
@permission_required(Action.VIEW_INVOICES)
def index():
    company = current_company()
    form = HistoryFilterForm(request.args, currency=company.currency,
                             company_fields=company_fields.company_fields(db.session, company.id))
    page = None
    if form.validate():
        page = history.invoice_history(
            db.session, company.id, form.history_query(), today=clock.today(), currency=company.currency
        )
    status_code = 200 if page is not None else 400
    # What a clerk may tick to pay: an invoice wholly held back by a dispute has nothing payable.
    payable = undisputed_amounts_due(db.session, [row.invoice for row in page.rows]) if page else {}
    # The day autopay will charge each row it will charge: a fixed number of queries for the whole page.
    autopay_on = autopay_dates(db.session, company.id, [row.invoice for row in page.rows],
                               today=clock.today()) if page else {}
    reminded_on = last_reminded_on(db.session, [row.invoice.id for row in page.rows]) if page else {}
    if htmx and not htmx.history_restore_request:
        return render_template("invoices/_results.html", form=form, page=page, payable=payable,
                               autopay_on=autopay_on, reminded_on=reminded_on), status_code
    owed = history.amount_owed(db.session, company.id, today=clock.today())
    return render_template("invoices/index.html", form=form, page=page, owed=owed, payable=payable,
                           autopay_on=autopay_on, reminded_on=reminded_on), status_code


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
