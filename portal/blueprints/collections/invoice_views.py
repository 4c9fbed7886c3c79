"""The collections team's actions on one invoice: e-mail it with a PAY NOW link, revoke its links."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user
from sqlalchemy import select

from portal import clock
from portal.audit import Actor
from portal.billing.status import invoice_status
from portal.blueprints.collections import blueprint
from portal.blueprints.guest import pay_links
from portal.blueprints.payments.forms import ConfirmForm
from portal.blueprints.guards import staff_required
from portal.extensions import db
from portal.guest.links import revoke_pay_links
from portal.guest.service import send_invoice_email
from portal.models import Invoice


@blueprint.route("/invoices")
@staff_required
def find_invoice():
    number = (request.args.get("number") or "").strip()[:64]
    found = db.session.scalar(select(Invoice).where(Invoice.number == number)) if number else None
    if found is None:
        flash(_("No invoice is numbered %(number)s.", number=number) if number else _("Enter an invoice number."),
              "error")
        return redirect(url_for("collections.dashboard"), code=303)
    return redirect(url_for("collections.invoice", invoice_id=found.id), code=303)


@blueprint.route("/invoices/<int:invoice_id>")
@staff_required
def invoice(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    return render_template("collections/invoice.html", invoice=found, status=invoice_status(found, clock.today()),
                           form=ConfirmForm())


@blueprint.route("/invoices/<int:invoice_id>/send", methods=["POST"])
@staff_required
def send_invoice(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    if ConfirmForm().validate_on_submit():
        sent = send_invoice_email(db.session, Actor.user(current_user), found, links=pay_links(),
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


def _invoice_or_404(invoice_id: int) -> Invoice:
    found = db.session.get(Invoice, invoice_id)
    if found is None:
        abort(404)
    return found
