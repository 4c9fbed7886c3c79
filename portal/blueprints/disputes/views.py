from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.permissions import Action
from portal.billing import history
from portal.billing.payable import undisputed_amount_due
from portal.blueprints.app_services import services
from portal.blueprints.disputes import (
    blueprint,
    form_errors_text,
    send_attachment,
    thread_context,
    upload_limits,
)
from portal.blueprints.disputes.forms import ConfirmForm, MessageForm, RaiseDisputeForm, uploads
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.uploads import accepts_uploads
from portal.disputes import service
from portal.disputes.errors import DisputeError
from portal.errors import refusal_message, refusal_status
from portal.extensions import db, htmx


@blueprint.route("/disputes")
@permission_required(Action.VIEW_INVOICES)
def index():
    return render_template("disputes/index.html", disputes=service.company_disputes(db.session, current_company().id))


@blueprint.route("/invoices/<int:invoice_id>/disputes/new", methods=["GET", "POST"])
@accepts_uploads
@permission_required(Action.DISPUTE)
def new(invoice_id: int):
    invoice = history.find_customer_invoice(db.session, current_company().id, invoice_id)
    active = service.active_dispute(db.session, invoice.id)
    if active is not None:
        flash(_("This invoice already has a dispute in progress."), "info")
        return redirect(url_for("disputes.show", dispute_id=active.id), code=303)
    form = RaiseDisputeForm(invoice=invoice)
    if not form.is_submitted():
        refusal = service.dispute_refusal(db.session, invoice)
        return _raise_page(form, invoice, error=refusal_message(refusal) if refusal else None, closed=bool(refusal))
    if not form.validate():
        return _raise_page(form, invoice, status=400)
    try:
        dispute = service.raise_dispute(db.session, services().disputes, current_user, invoice=invoice,
                                        claim=form.claim())
    except DisputeError as error:
        return _raise_page(form, invoice, error=_field_or_page_error(form, error), status=refusal_status(error))
    flash(_("Your dispute was sent to our collections team. You will be told by e-mail when they reply."), "success")
    return redirect(url_for("disputes.show", dispute_id=dispute.id), code=303)


@blueprint.route("/disputes/<int:dispute_id>")
@permission_required(Action.VIEW_INVOICES)
def show(dispute_id: int):
    dispute = service.find_customer_dispute(db.session, current_company().id, dispute_id)
    if htmx and not htmx.history_restore_request:
        return render_template("disputes/_thread.html", **thread_context(dispute, staff=False))
    return _dispute_page(dispute, MessageForm())


@blueprint.route("/disputes/<int:dispute_id>/messages", methods=["POST"])
@accepts_uploads
@permission_required(Action.DISPUTE)
def post_message(dispute_id: int):
    dispute = service.find_customer_dispute(db.session, current_company().id, dispute_id)
    form = MessageForm()
    if form.validate():
        try:
            service.post_message(db.session, services().disputes, current_user, dispute, body=form.body.data,
                                 uploads=uploads(form.attachments))
        except DisputeError as refused:
            status, summary = refusal_status(refused), refusal_message(refused)
            error = _field_or_page_error(form, refused)
        else:
            if htmx:
                return render_template("disputes/_thread.html", **thread_context(dispute, staff=False))
            flash(_("Message sent."), "success")
            return redirect(url_for("disputes.show", dispute_id=dispute.id, _anchor="thread"), code=303)
    else:
        status, summary, error = 400, form_errors_text(form), None
    if htmx:
        return render_template("disputes/_thread.html", **thread_context(dispute, staff=False), error=summary), status
    return _dispute_page(dispute, form, error=error, status=status)


@blueprint.route("/disputes/<int:dispute_id>/withdraw", methods=["POST"])
@permission_required(Action.DISPUTE)
def withdraw(dispute_id: int):
    dispute = service.find_customer_dispute(db.session, current_company().id, dispute_id)
    if ConfirmForm().validate_on_submit():
        service.withdraw_dispute(db.session, services().disputes, current_user, dispute)
        flash(_("You withdrew the dispute: the whole amount is due again."), "info")
    return redirect(url_for("disputes.show", dispute_id=dispute.id), code=303)


@blueprint.route("/disputes/<int:dispute_id>/attachments/<int:attachment_id>")
@permission_required(Action.DOWNLOAD)
def attachment(dispute_id: int, attachment_id: int):
    dispute = service.find_customer_dispute(db.session, current_company().id, dispute_id)
    return send_attachment(service.find_attachment(db.session, dispute, attachment_id))


def _raise_page(form: RaiseDisputeForm, invoice, *, error: str | None = None, closed: bool = False,
                status: int = 200):
    return render_template("disputes/new.html", form=form, invoice=invoice, error=error, closed=closed,
                           **upload_limits()), status


def _dispute_page(dispute, form: MessageForm, *, error: str | None = None, status: int = 200):
    return render_template(
        "disputes/show.html", form=form, withdraw_form=ConfirmForm(), error=error,
        payable=undisputed_amount_due(db.session, dispute.invoice),
        **thread_context(dispute, staff=False), **upload_limits(),
    ), status


def _field_or_page_error(form, error: DisputeError) -> str | None:
    """Show a refusal beside the field it is about; returns it for the top of the page otherwise."""
    message = refusal_message(error)
    if error.field and error.field in form:
        form[error.field].errors = [*form[error.field].errors, message]
        return None
    return message
