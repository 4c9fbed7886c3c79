import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal import clock
from portal.audit import Actor
from portal.billing import exports
from portal.blueprints.app_services import payment_context
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.forms import (
    AttentionClearedForm,
    CancelPaymentForm,
    CreditRefundForm,
    PaymentFilterForm,
    RefundForm,
    SendMailAgainForm,
)
from portal.blueprints.downloads import csv_download
from portal.blueprints.guards import staff_required
from portal.blueprints.invoices.forms import HistoryFilterForm
from portal.collections import dashboard as figures
from portal.collections.companies import most_overdue_companies
from portal.collections.payments import payment_list, payment_list_csv
from portal.errors import refusal_message, refusal_status
from portal.extensions import db
from portal.mail import outbox
from portal.models import Company, RefundStatus
from portal.payments.errors import PaymentError
from portal.payments.queries import payment_or_none, payments_needing_attention
from portal.payments.refunds import ensure_refundable, refund_allocation, refund_unallocated
from portal.payments.settlement import clear_attention

#: The companies the dashboard lists, those whose oldest overdue invoice is the oldest first.
DASHBOARD_COMPANIES = 10


@blueprint.route("/")
@staff_required
def dashboard():
    today = clock.today()
    most_overdue = most_overdue_companies(db.session, today=today, limit=DASHBOARD_COMPANIES)
    return render_template("collections/dashboard.html", figures=figures.dashboard(db.session, today=today),
                           most_overdue=most_overdue, dso_periods=figures.DSO_PERIODS)


@blueprint.route("/payments")
@staff_required
def payments():
    form = PaymentFilterForm(request.args)
    page = payment_list(db.session, form.payment_query()) if form.validate() else None
    return render_template("collections/payments.html", form=form, page=page), 200 if page else 400


@blueprint.route("/payments.csv")
@staff_required
def payments_csv():
    form = PaymentFilterForm(request.args)
    if not form.validate():
        return render_template("collections/payments.html", form=form, page=None), 400
    return csv_download(payment_list_csv(db.session, form.payment_query()), f"payments-{clock.today().isoformat()}.csv")


@blueprint.route("/attention")
@staff_required
def attention():
    return render_template("collections/attention.html", payments=payments_needing_attention(db.session),
                           mail=outbox.given_up(db.session), send_again_form=SendMailAgainForm())


@blueprint.route("/mail/<int:message_id>/send-again", methods=["POST"])
@staff_required
def send_mail_again(message_id: int):
    if not SendMailAgainForm().validate_on_submit():
        abort(400)
    if outbox.send_again(db.session, message_id) is None:
        # Another member of staff sent it again first (or it was never given up): nothing to do.
        flash(_("That e-mail is not waiting to be sent again."), "info")
    else:
        flash(_("The e-mail is back in the outbox: it is sent now, or as soon as the mail server answers."), "success")
    return redirect(url_for("collections.attention"), code=303)


@blueprint.route("/payments/<int:payment_id>")
@staff_required
def payment(payment_id: int):
    found = payment_or_none(db.session, payment_id)
    if found is None:
        return _not_found()
    return payment_page(found)


@blueprint.route("/payments/<int:payment_id>/refunds", methods=["POST"])
@staff_required
def refund(payment_id: int):
    return _refund(payment_id, RefundForm, "form", lambda found, form, actor: refund_allocation(
        db.session, payment_context(), actor, payment_id=found.id, allocation_id=form.allocation_id.data,
        amount=form.amount_in_minor_units(), reason=form.reason.data or "", attempt_key=form.attempt_key.data or None))


@blueprint.route("/payments/<int:payment_id>/credit-refunds", methods=["POST"])
@staff_required
def refund_credit(payment_id: int):
    return _refund(payment_id, CreditRefundForm, "credit_form", lambda found, form, actor: refund_unallocated(
        db.session, payment_context(), actor, payment_id=found.id,
        amount=form.amount_in_minor_units(), reason=form.reason.data or "", attempt_key=form.attempt_key.data or None))


def _refund(payment_id: int, form_class, form_name: str, make_refund):
    """Validate the refund form; the first time, show what would be refunded and ask to confirm; once confirmed,
    ask for the refund and say how it went (or show the page again, with why)."""
    found = payment_or_none(db.session, payment_id)
    if found is None:
        return _not_found()
    form = form_class(currency=found.currency)
    if not form.validate_on_submit():
        return payment_page(found, status=400, **{form_name: form})
    allocation_id = form.allocation_id.data if hasattr(form, "allocation_id") else None
    if not form.confirmed.data:
        try:
            ensure_refundable(db.session, payment=found, allocation_id=allocation_id, amount=form.amount_in_minor_units())
        except PaymentError as error:
            return payment_page(found, error=refusal_message(error), status=refusal_status(error), **{form_name: form})
        form.confirmed.data = "yes"
        form.attempt_key.data = uuid.uuid4().hex
        allocation = next((line for line in found.allocations if line.id == allocation_id), None)
        return render_template("collections/refund_confirm.html", payment=found, form=form, allocation=allocation,
                               amount=form.amount_in_minor_units(), action=request.path)
    try:
        made = make_refund(found, form, Actor.user(current_user))
    except PaymentError as error:
        return payment_page(found, error=refusal_message(error), status=refusal_status(error), **{form_name: form})
    if made.status == RefundStatus.PENDING:
        flash(_("The card processor did not confirm the refund. We are checking with it: "
                "do not refund again; this page will show the result."), "info")
    else:
        flash(_("Refund made."), "success")
    return redirect(url_for("collections.payment", payment_id=found.id), code=303)


@blueprint.route("/payments/<int:payment_id>/attention-cleared", methods=["POST"])
@staff_required
def clear_payment_attention(payment_id: int):
    found = payment_or_none(db.session, payment_id)
    if found is None:
        return _not_found()
    form = AttentionClearedForm()
    if not form.validate_on_submit():
        return payment_page(found, attention_form=form, status=400)
    clear_attention(db.session, Actor.user(current_user), found, note=form.note.data)
    flash(_("Taken off the list of money needing attention."), "success")
    return redirect(url_for("collections.attention"), code=303)


def payment_page(found, *, form=None, credit_form=None, attention_form=None, cancel_form=None, error=None,
                 status=200):
    """The staff page of one payment, with whichever of its forms was just sent shown with its errors."""
    return render_template(
        "collections/payment.html", payment=found, error=error,
        form=form or RefundForm(formdata=None, currency=found.currency),
        credit_form=credit_form or CreditRefundForm(formdata=None, currency=found.currency),
        attention_form=attention_form or AttentionClearedForm(formdata=None),
        cancel_form=cancel_form or CancelPaymentForm(formdata=None),
    ), status


def _not_found():
    return render_template("errors/error.html", code=404, message=_("We could not find that page.")), 404


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
