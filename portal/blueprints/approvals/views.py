"""Payments waiting for a second person's approval: the list, one payment, approve / reject / withdraw, the rule."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.permissions import Action
from portal.approvals import rules
from portal.approvals import service as approvals
from portal.approvals.errors import ApprovalError
from portal.blueprints.app_services import payment_context
from portal.blueprints.approvals import STATUS_LABELS, blueprint, refusal
from portal.blueprints.approvals.forms import RejectForm, RuleForm
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.payments.forms import ConfirmForm
from portal.errors import error_message, failure_message
from portal.extensions import db
from portal.i18n import typed_amount
from portal.models import ApprovalStatus, PaymentStatus
from portal.models.types import utcnow

FORM_EXPIRED = "This form has expired. Reload the page and try again."


@blueprint.route("")
@permission_required(Action.VIEW_INVOICES)
def index():
    return _index_page(RuleForm(currency=current_company().currency, data=_rule_data()))


@blueprint.route("/rule", methods=["POST"])
@permission_required(Action.SET_APPROVAL_RULE)
def set_rule():
    company = current_company()
    form = RuleForm(currency=company.currency)
    if not form.validate():
        return _index_page(form, status=400)
    rule = approvals.set_rule(db.session, current_user, company=company, threshold=form.amount_in_minor_units(),
                              payers_may_approve=form.payers_may_approve.data)
    flash(_("The approval rule is saved.") if rule else _("Payments no longer need approval."), "success")
    return redirect(url_for("approvals.index"), code=303)


@blueprint.route("/<int:approval_id>")
@permission_required(Action.VIEW_INVOICES)
def show(approval_id: int):
    return _approval_page(approvals.company_approval(db.session, current_company().id, approval_id))


@blueprint.route("/<int:approval_id>/approve", methods=["POST"])
@permission_required(Action.APPROVE_PAYMENTS)
def approve(approval_id: int):
    company = current_company()
    if not ConfirmForm().validate_on_submit():
        return _approval_page(approvals.company_approval(db.session, company.id, approval_id),
                              error=_(FORM_EXPIRED), status=400)
    approval = approvals.approve(db.session, payment_context(), current_user, company=company,
                                 approval_id=approval_id)
    payment = approval.payment
    if approval.status == ApprovalStatus.EXPIRED:
        flash(_("This payment expired before it was approved: nothing was charged."), "error")
    elif approval.status == ApprovalStatus.NOT_CHARGED:
        flash(_("Approved, but nothing was charged: %(reason)s", reason=_why_not_charged(approval)), "error")
    elif payment.status == PaymentStatus.REQUIRES_ACTION:
        # The card's bank wants its holder to confirm: whoever approves finishes it on the payment's page.
        flash(_("Approved. The bank asks to confirm this payment: confirm it below."), "info")
        return redirect(url_for("payments.show", payment_id=payment.id), code=303)
    elif payment.status == PaymentStatus.FAILED:
        flash(_("Approved, but the card was not charged: %(reason)s", reason=failure_message(payment.failure_code)), "error")
    else:
        flash(_("Approved: the payment is made."), "success")
    return redirect(url_for("approvals.show", approval_id=approval.id), code=303)


@blueprint.route("/<int:approval_id>/reject", methods=["POST"])
@permission_required(Action.APPROVE_PAYMENTS)
def reject(approval_id: int):
    company = current_company()
    form = RejectForm()
    if not form.validate_on_submit():
        return _approval_page(approvals.company_approval(db.session, company.id, approval_id), reject_form=form,
                              status=400)
    approval = approvals.reject(db.session, payment_context(), current_user, company=company,
                                approval_id=approval_id, note=form.note.data or "")
    if approval.status == ApprovalStatus.EXPIRED:
        flash(_("This payment expired before it was approved: nothing was charged."), "error")
    else:
        flash(_("Rejected: nothing was charged."), "info")
    return redirect(url_for("approvals.show", approval_id=approval.id), code=303)


@blueprint.route("/<int:approval_id>/withdraw", methods=["POST"])
@permission_required(Action.PAY)
def withdraw(approval_id: int):
    company = current_company()
    if not ConfirmForm().validate_on_submit():
        return _approval_page(approvals.company_approval(db.session, company.id, approval_id),
                              error=_(FORM_EXPIRED), status=400)
    approvals.withdraw(db.session, payment_context(), current_user, company=company, approval_id=approval_id)
    flash(_("Withdrawn: nothing was charged."), "info")
    return redirect(url_for("approvals.show", approval_id=approval_id), code=303)


@blueprint.errorhandler(ApprovalError)
def _refused(error: ApprovalError):
    message, status = refusal(error)
    approval_id = (request.view_args or {}).get("approval_id")
    if status == 404 or approval_id is None:
        return render_template("errors/error.html", code=status, message=message), status
    # Refused about a payment the clerk may see: its page, with why.
    return _approval_page(approvals.company_approval(db.session, current_company().id, approval_id),
                          error=message, status=status)


def _approval_page(approval, *, error: str | None = None, reject_form: RejectForm | None = None, status: int = 200):
    company = current_company()
    rule = approvals.company_rule(db.session, company.id)
    now = utcnow()
    waiting = approval.status == ApprovalStatus.AWAITING and not approval.is_expired(now)
    return render_template(
        "approvals/show.html", approval=approval, error=error, status_label=_status_label(approval, now),
        why_not_charged=_why_not_charged(approval) if approval.status == ApprovalStatus.NOT_CHARGED else None,
        waiting=waiting, form=ConfirmForm(), reject_form=reject_form or RejectForm(),
        may_decide=waiting and approval.prepared_by_user_id != current_user.id
        and rules.may_approve(current_user, company.id, rule),
        may_withdraw=waiting and approval.prepared_by_user_id == current_user.id,
        approvers=approvals.approvers(db.session, company, other_than=approval.prepared_by_user_id) if waiting else [],
    ), status


def _why_not_charged(approval) -> str:
    return error_message(approval.refusal_code, **approval.refusal_parameters)


def _index_page(form: RuleForm, *, status: int = 200):
    company = current_company()
    now = utcnow()
    listed = approvals.company_approvals(db.session, company.id)
    return render_template(
        "approvals/index.html", approvals=listed, labels={a.id: _status_label(a, now) for a in listed},
        rule=approvals.company_rule(db.session, company.id), form=form,
        may_set_rule=rules.may_set_rule(current_user, company.id), currency=company.currency,
    ), status


def _status_label(approval, now) -> str:
    return str(STATUS_LABELS[ApprovalStatus.EXPIRED if approval.is_expired(now) else approval.status])


def _rule_data() -> dict:
    rule = approvals.company_rule(db.session, current_company().id)
    if rule is None:
        return {}
    return {"amount": typed_amount(rule.threshold, rule.currency), "payers_may_approve": rule.payers_may_approve}
