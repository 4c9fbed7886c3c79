"""The collections team's invoices: the search across companies, one invoice's page and what staff do to it
(e-mail it with a PAY NOW link, revoke its links, void it)."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from portal import clock
from portal.audit import Actor
from portal.billing.errors import InvoiceConflict
from portal.billing.status import invoice_status
from portal.blueprints.app_services import services
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.forms import STAFF_FILTER_CURRENCY, StaffInvoiceFilterForm, VoidForm
from portal.blueprints.downloads import csv_download
from portal.blueprints.guards import staff_required
from portal.blueprints.payments.forms import ConfirmForm
from portal.collections.invoices import invoice_file, search_invoices, search_invoices_csv, void_for_staff
from portal.extensions import db
from portal.guest.links import revoke_pay_links
from portal.guest.service import send_invoice_email
from portal.models import Invoice
from portal.reminders.history import invoice_reminders


@blueprint.route("/invoices")
@staff_required
def invoices():
    form = StaffInvoiceFilterForm(request.args)
    page = None
    if form.validate():
        page = search_invoices(db.session, form.invoice_search(), today=clock.today(), currency=STAFF_FILTER_CURRENCY)
    return render_template("collections/invoices.html", form=form, page=page), 200 if page else 400


@blueprint.route("/invoices.csv")
@staff_required
def invoices_csv():
    form = StaffInvoiceFilterForm(request.args)
    if not form.validate():
        return render_template("collections/invoices.html", form=form, page=None), 400
    return csv_download(search_invoices_csv(db.session, form.invoice_search(), today=clock.today(),
                                            currency=STAFF_FILTER_CURRENCY),
                        f"invoices-{clock.today().isoformat()}.csv")


@blueprint.route("/invoices/<int:invoice_id>")
@staff_required
def invoice(invoice_id: int):
    return _invoice_page(_invoice_or_404(invoice_id))


@blueprint.route("/invoices/<int:invoice_id>/send", methods=["POST"])
@staff_required
def send_invoice(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    if ConfirmForm().validate_on_submit():
        sent = send_invoice_email(db.session, Actor.user(current_user), found, links=services().pay_links,
                                  supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"])
        flash(ngettext("Invoice e-mailed to %(num)d address.", "Invoice e-mailed to %(num)d addresses.", sent), "success")
    return redirect(url_for("collections.invoice", invoice_id=found.id), code=303)


@blueprint.route("/invoices/<int:invoice_id>/revoke-pay-links", methods=["POST"])
@staff_required
def revoke_links(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    if ConfirmForm().validate_on_submit():
        revoke_pay_links(db.session, Actor.user(current_user), found)
        flash(_("Every PAY NOW link sent for this invoice so far has stopped working."), "success")
    return redirect(url_for("collections.invoice", invoice_id=found.id), code=303)


@blueprint.route("/invoices/<int:invoice_id>/void", methods=["POST"])
@staff_required
def void(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    form = VoidForm()
    if not form.validate_on_submit():
        return _invoice_page(found, void_form=form, status=400)
    try:
        void_for_staff(db.session, services().disputes, Actor.user(current_user), found, form.reason.data)
    except InvoiceConflict as refused:
        return _invoice_page(found, void_form=form, error=_void_refusal(refused), status=409)
    flash(_("Invoice %(number)s voided: it owes nothing now.", number=found.number), "success")
    return redirect(url_for("collections.invoice", invoice_id=found.id), code=303)


def _void_refusal(refused: InvoiceConflict) -> str:
    if refused.code == "invoice_has_payments":
        return _("An invoice with payments cannot be voided: refund them first.")
    if refused.code == "payment_in_progress":
        return _("A card payment of this invoice is in progress. Try again in a few minutes.")
    return _("This invoice cannot be voided.")


def _invoice_page(found: Invoice, *, void_form=None, error=None, status=200):
    return render_template("collections/invoice.html", invoice=found, status=invoice_status(found, clock.today()),
                           file=invoice_file(db.session, found), form=ConfirmForm(),
                           reminders=invoice_reminders(db.session, found.id),
                           void_form=void_form or VoidForm(formdata=None), error=error), status


def _invoice_or_404(invoice_id: int) -> Invoice:
    found = db.session.get(Invoice, invoice_id)
    if found is None:
        abort(404)
    return found
