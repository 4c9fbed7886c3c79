"""Disputes, the collections team's side: the queue, the thread, and resolving."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import clock
from portal.billing.money import to_decimal
from portal.billing.payable import undisputed_amount_due
from portal.blueprints.app_services import services
from portal.blueprints.collections import blueprint
from portal.blueprints.disputes import (
    form_errors_text,
    send_attachment,
    thread_context,
    upload_limits,
)
from portal.blueprints.disputes.forms import CreditForm, RejectForm, StaffMessageForm, uploads
from portal.blueprints.guards import staff_required
from portal.blueprints.uploads import accepts_uploads
from portal.disputes import service
from portal.disputes.errors import DisputeError
from portal.errors import refusal_message, refusal_status
from portal.extensions import db, htmx


@blueprint.route("/disputes")
@staff_required
def disputes():
    try:
        order = service.QueueOrder(request.args.get("sort", service.QueueOrder.AGE))
    except ValueError:
        order = service.QueueOrder.AGE
    return render_template("disputes/queue.html", disputes=service.dispute_queue(db.session, order=order),
                           order=order, today=clock.today())


@blueprint.route("/disputes/<int:dispute_id>")
@staff_required
def dispute(dispute_id: int):
    found = service.find_dispute(db.session, dispute_id)
    if htmx and not htmx.history_restore_request:
        return render_template("disputes/_thread.html", **thread_context(found, staff=True))
    return _staff_page(found)


@blueprint.route("/disputes/<int:dispute_id>/messages", methods=["POST"])
@accepts_uploads
@staff_required
def post_dispute_message(dispute_id: int):
    found = service.find_dispute(db.session, dispute_id)
    form = StaffMessageForm()
    if form.validate():
        try:
            service.post_message(db.session, services().disputes, current_user, found, body=form.body.data,
                                 uploads=uploads(form.attachments), ask_customer=form.ask_customer.data)
        except DisputeError as refused:
            status, summary = refusal_status(refused), refusal_message(refused)
        else:
            if htmx:
                return render_template("disputes/_thread.html", **thread_context(found, staff=True))
            flash(_("Message sent to the customer."), "success")
            return redirect(url_for("collections.dispute", dispute_id=found.id, _anchor="thread"), code=303)
    else:
        status, summary = 400, form_errors_text(form)
    if htmx:
        return render_template("disputes/_thread.html", **thread_context(found, staff=True), error=summary), status
    return _staff_page(found, message_form=form, error=summary, status=status)


@blueprint.route("/disputes/<int:dispute_id>/credit", methods=["POST"])
@staff_required
def credit_dispute(dispute_id: int):
    found = service.find_dispute(db.session, dispute_id)
    form = CreditForm(currency=found.currency)
    if not form.validate():
        return _staff_page(found, credit_form=form, status=400)
    try:
        credit_note = service.accept_with_credit_note(
            db.session, services().disputes, current_user, found, amount=form.amount_in_minor_units(),
            credit_note_number=form.credit_note_number.data, issue_date=clock.today(), note=form.note.data or "",
        )
    except DisputeError as refused:
        return _staff_page(found, credit_form=form, error=refusal_message(refused),
                           status=refusal_status(refused))
    flash(_("Dispute accepted: credit note %(number)s issued.", number=credit_note.number), "success")
    return redirect(url_for("collections.dispute", dispute_id=found.id), code=303)


@blueprint.route("/disputes/<int:dispute_id>/reject", methods=["POST"])
@staff_required
def reject_dispute(dispute_id: int):
    found = service.find_dispute(db.session, dispute_id)
    form = RejectForm()
    if not form.validate():
        return _staff_page(found, reject_form=form, status=400)
    try:
        service.reject_dispute(db.session, services().disputes, current_user, found, reason=form.reason.data)
    except DisputeError as refused:
        return _staff_page(found, reject_form=form, error=refusal_message(refused),
                           status=refusal_status(refused))
    flash(_("Dispute rejected. The customer has been told why."), "info")
    return redirect(url_for("collections.dispute", dispute_id=found.id), code=303)


@blueprint.route("/disputes/<int:dispute_id>/attachments/<int:attachment_id>")
@staff_required
def dispute_attachment(dispute_id: int, attachment_id: int):
    found = service.find_dispute(db.session, dispute_id)
    return send_attachment(service.find_attachment(db.session, found, attachment_id))


def _staff_page(found, *, message_form=None, credit_form=None, reject_form=None, error=None, status=200):
    suggested = {"amount": str(to_decimal(found.disputed_amount, found.currency)),
                 "credit_note_number": f"CN-DISPUTE-{found.id}"}
    return render_template(
        "disputes/staff_show.html",
        form=message_form or StaffMessageForm(formdata=None),
        credit_form=credit_form or CreditForm(formdata=None, currency=found.currency, data=suggested),
        reject_form=reject_form or RejectForm(formdata=None),
        error=error,
        payable=undisputed_amount_due(db.session, found.invoice),
        **thread_context(found, staff=True), **upload_limits(),
    ), status
