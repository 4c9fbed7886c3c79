from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal import clock
from portal.audit import Actor
from portal.billing import exports
from portal.billing.aging import company_balances
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.forms import RefundForm
from portal.blueprints.downloads import csv_download
from portal.blueprints.guards import staff_required
from portal.blueprints.invoices.forms import HistoryFilterForm
from portal.blueprints.payments import payment_context
from portal.extensions import db
from portal.models import Company
from portal.payments.queries import payment_or_none, recent_payments
from portal.payments.refunds import refund_allocation
from portal.payments.errors import PaymentError


@blueprint.route("/")
@staff_required
def dashboard():
    return render_template("collections/dashboard.html", balances=company_balances(db.session, today=clock.today()))


@blueprint.route("/payments")
@staff_required
def payments():
    return render_template("collections/payments.html", payments=recent_payments(db.session))


@blueprint.route("/payments/<int:payment_id>")
@staff_required
def payment(payment_id: int):
    found = payment_or_none(db.session, payment_id)
    if found is None:
        return render_template("errors/error.html", code=404, message=_("We could not find that page.")), 404
    return render_template("collections/payment.html", payment=found, form=RefundForm(currency=found.currency))


@blueprint.route("/payments/<int:payment_id>/refunds", methods=["POST"])
@staff_required
def refund(payment_id: int):
    found = payment_or_none(db.session, payment_id)
    if found is None:
        return render_template("errors/error.html", code=404, message=_("We could not find that page.")), 404
    form = RefundForm(currency=found.currency)
    if not form.validate_on_submit():
        return render_template("collections/payment.html", payment=found, form=form), 400
    try:
        refund_allocation(db.session, payment_context(), Actor.user(current_user),
                                  payment_id=found.id, allocation_id=form.allocation_id.data,
                                  amount=form.amount_in_minor_units(), reason=form.reason.data or "")
    except PaymentError as error:
        return render_template("collections/payment.html", payment=found, form=form, error=str(error)), 409
    flash(_("Refund made."), "success")
    return redirect(url_for("collections.payment", payment_id=found.id), code=303)


@blueprint.route("/exports/invoices.csv")
@staff_required
def export_invoices():
    form = _export_form()
    return csv_download(exports.invoice_csv(db.session, form.export_filters(_company_id()), today=clock.today()),
                        f"invoices-{clock.today().isoformat()}.csv")


@blueprint.route("/exports/payments.csv")
@staff_required
def export_payments():
    form = _export_form()
    return csv_download(exports.payment_csv(db.session, form.export_filters(_company_id())),
                        f"payments-{clock.today().isoformat()}.csv")


def _export_form() -> HistoryFilterForm:
    form = HistoryFilterForm(request.args, currency=request.args.get("currency", "EUR"))
    if not form.validate():
        abort(400)
    return form


def _company_id() -> int | None:
    ref = request.args.get("company")
    if not ref:
        return None
    return db.session.scalar(select(Company.id).where(Company.external_ref == ref)) or -1
