"""Paying several invoices at once from the link a reminder carries: /pay/invoices/<token>.

The page lists what each invoice will be charged now (its amount due less what an active
dispute holds back, said so) and the form carries exactly those amounts: the payment
charges them, or nothing if they have changed since the page was shown.
"""

import uuid

from flask import redirect, render_template, request, url_for

from portal.audit import Actor
from portal.blueprints.app_services import payment_context, services
from portal.blueprints.guest import blueprint
from portal.blueprints.guest.forms import GuestSeveralPayForm
from portal.blueprints.payments import checked_payment_poll
from portal.blueprints.payments.forms import ConfirmForm
from portal.extensions import db
from portal.guest import service
from portal.guest.errors import PayLinkError, PayLinkLocked
from portal.models import Invoice, PaymentStatus
from portal.payments.charging import authentication_secret, check_after_authentication
from portal.payments.errors import PaymentError


@blueprint.route("/invoices/<token>")
def several(token: str):
    invoices = _invoices_for(token)
    payable = service.payable_invoices(db.session, invoices)
    if not payable:
        return _nothing_to_pay_page(invoices)
    return _pay_page(token, invoices, payable, GuestSeveralPayForm(data={"attempt_key": uuid.uuid4().hex}))


@blueprint.route("/invoices/<token>", methods=["POST"])
def pay_several(token: str):
    invoices = _invoices_for(token)
    payable = service.payable_invoices(db.session, invoices)
    if not payable:
        return _nothing_to_pay_page(invoices)
    form = GuestSeveralPayForm()
    if not form.validate_on_submit():
        return _pay_page(token, invoices, payable, form, status_code=400)
    try:
        payment = service.pay_several_as_guest(
            db.session, payment_context(), shown=form.shown_amounts(), link_invoices=invoices, token=token,
            setup_id=form.setup_id.data, attempt_key=form.attempt_key.data, receipt_email=form.email.data,
            ip_address=request.remote_addr or "unknown", limits=services().guest_limits)
    except PayLinkLocked as error:
        return _pay_page(token, invoices, payable, form, error=str(error), status_code=429, offer_card=False)
    except PaymentError as error:
        # Read again: what is due may be what changed.
        return _pay_page(token, invoices, service.payable_invoices(db.session, invoices), _retry(form),
                         error=str(error), status_code=409)
    if payment.status == PaymentStatus.FAILED:
        return _pay_page(token, invoices, payable, _retry(form), error=payment.failure_message, status_code=402)
    return redirect(url_for("guest.several_payment", token=token, payment_id=payment.id), code=303)


@blueprint.route("/invoices/<token>/payments/<int:payment_id>")
def several_payment(token: str, payment_id: int):
    invoices = _invoices_for(token)
    paid = service.several_guest_payment(db.session, invoices, payment_id)
    if paid is None:
        raise PayLinkError()
    if (poll_answer := checked_payment_poll(paid)) is not None:
        return poll_answer
    client_secret = authentication_secret(payment_context(), paid) if (
        paid.status == PaymentStatus.REQUIRES_ACTION) else None
    return render_template("guest/payment.html", payment=paid, token=token, client_secret=client_secret,
                           context=payment_context(), form=ConfirmForm())


@blueprint.route("/invoices/<token>/payments/<int:payment_id>/check", methods=["POST"])
def check_several(token: str, payment_id: int):
    invoices = _invoices_for(token)
    paid = service.several_guest_payment(db.session, invoices, payment_id)
    if paid is None:
        raise PayLinkError()
    if ConfirmForm().validate_on_submit():
        check_after_authentication(db.session, payment_context(), Actor.system("guest"),
                                   company=invoices[0].company, payment_id=paid.id)
    return redirect(url_for("guest.several_payment", token=token, payment_id=paid.id), code=303)


def _invoices_for(token: str) -> list[Invoice]:
    """The invoices of a valid link, counted against the link's and the address's limits."""
    invoices = services().pay_links.invoices_for(db.session, token)
    service.check_view_allowed(db.session, token=token, ip_address=request.remote_addr or "unknown",
                               limits=services().guest_limits)
    return invoices


def _pay_page(token: str, invoices: list[Invoice], payable: list, form: GuestSeveralPayForm, *,
              error: str | None = None, status_code: int = 200, offer_card: bool = True):
    context = payment_context()
    setup = context.gateway.start_card_setup(customer_id=None) if offer_card else None
    if setup is not None:
        form.setup_id.data = setup.setup_id
    form.show(payable)
    settled = [invoice for invoice in invoices if invoice.id not in {line.invoice.id for line in payable}]
    return render_template(
        "guest/several.html", token=token, form=form, setup=setup, context=context, error=error, payable=payable,
        settled=settled, total=sum(line.amount for line in payable), currency=payable[0].invoice.currency,
        disputed=sum(line.disputed for line in payable),
    ), status_code


def _nothing_to_pay_page(invoices: list[Invoice]):
    return render_template("guest/several_settled.html", invoices=invoices), 200


def _retry(form: GuestSeveralPayForm) -> GuestSeveralPayForm:
    form.attempt_key.data = uuid.uuid4().hex
    return form
