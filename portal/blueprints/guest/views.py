import uuid

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal import clock
from portal.audit import Actor
from portal.billing.document_files import DOWNLOADED, DocumentFormat, invoice_file
from portal.billing.payable import undisputed_amount_due
from portal.billing.status import InvoiceStatus, invoice_status
from portal.blueprints.app_services import payment_context, services
from portal.blueprints.downloads import document_download
from portal.blueprints.guest import blueprint
from portal.blueprints.guest.forms import GuestPayForm
from portal.blueprints.payments import checked_payment_poll
from portal.blueprints.payments.forms import ConfirmForm
from portal.db import begin_write
from portal.errors import error_message, failure_message, refusal_message, refusal_status
from portal.extensions import db
from portal.guest import service
from portal.guest.errors import ExpiredPayLink, PayLinkError, PayLinkLocked, RevokedPayLink
from portal.models import Invoice, PaymentStatus
from portal.payments.charging import authentication_secret, check_after_authentication
from portal.payments.errors import PaymentError

CARD_FORM_UNAVAILABLE = _l("Card payment is unavailable for a moment: our card processor does not answer. "
                           "Nothing was charged. Please try again in a few minutes.")


@blueprint.before_request
def _write_from_the_start():
    # Every guest page writes, GETs included: it counts a view against the link's and the
    # address's limits. On SQLite a transaction that read first fails at once with "database
    # is locked" if another request committed in between (see `begin_write`): two people
    # opening the same link together got a 500. Taking the write lock first makes them queue.
    if not db.session.in_transaction():
        begin_write(db.session)


@blueprint.route("/<token>")
def invoice(token: str):
    found = _invoice_for(token)
    status = invoice_status(found, clock.today())
    if status in (InvoiceStatus.PAID, InvoiceStatus.VOID):
        return _settled_page(found, token, status)
    form = _pay_form(found, data={"attempt_key": uuid.uuid4().hex})
    if service.is_resting(db.session, found, limits=services().guest_limits):
        # Said before a card is typed, not after.
        return _pay_page(found, token, form, error=error_message("pay_link_resting"), offer_card=False)
    if undisputed_amount_due(db.session, found) <= 0:
        return _pay_page(found, token, form, error=error_message("invoice_wholly_disputed", number=found.number),
                         offer_card=False)
    return _pay_page(found, token, form)


@blueprint.route("/<token>", methods=["POST"])
def pay(token: str):
    found = _invoice_for(token)
    status = invoice_status(found, clock.today())
    if status in (InvoiceStatus.PAID, InvoiceStatus.VOID):
        return _settled_page(found, token, status)
    form = _pay_form(found)
    if not form.validate_on_submit():
        return _pay_page(found, token, form, status_code=400)
    try:
        payment = service.pay_as_guest(
            db.session, payment_context(), invoice=found, token=token, setup_id=form.setup_id.data,
            attempt_key=form.attempt_key.data, amount=_allowed_amount(form), receipt_email=form.email.data,
            ip_address=request.remote_addr or "unknown", limits=services().guest_limits,
        )
    except PayLinkLocked as error:
        return _pay_page(found, token, form, error=refusal_message(error), status_code=429, offer_card=False)
    except PaymentError as error:
        return _pay_page(found, token, _retry(form), error=refusal_message(error), status_code=refusal_status(error))
    if payment.status == PaymentStatus.FAILED:
        return _pay_page(found, token, _retry(form), error=failure_message(payment.failure_code), status_code=402)
    return redirect(url_for("guest.payment", token=token, payment_id=payment.id), code=303)


@blueprint.route("/<token>/payments/<int:payment_id>")
def payment(token: str, payment_id: int):
    found = _invoice_for(token)
    paid = service.guest_payment(db.session, found, payment_id)
    if paid is None:
        return _link_error_page(PayLinkError(), 404)
    if (poll_answer := checked_payment_poll(paid)) is not None:
        return poll_answer
    client_secret = authentication_secret(payment_context(), paid) if (
        paid.status == PaymentStatus.REQUIRES_ACTION) else None
    return render_template("guest/payment.html", invoice=found, payment=paid, token=token,
                           client_secret=client_secret, context=payment_context(), form=ConfirmForm())


@blueprint.route("/<token>/payments/<int:payment_id>/check", methods=["POST"])
def check(token: str, payment_id: int):
    found = _invoice_for(token)
    paid = service.guest_payment(db.session, found, payment_id)
    if paid is None:
        return _link_error_page(PayLinkError(), 404)
    if ConfirmForm().validate_on_submit():
        check_after_authentication(db.session, payment_context(), Actor.system("guest"),
                                            company=found.company, payment_id=paid.id)
    return redirect(url_for("guest.payment", token=token, payment_id=paid.id), code=303)


@blueprint.route("/<token>/pdf")
def pdf(token: str):
    found = _invoice_for(token)
    file = invoice_file(db.session, found, services().supplier, file_format=DocumentFormat.PDF,
                        pay_url=services().pay_links.document_link_for(found).url, kept=DOWNLOADED)
    return document_download(file)


@blueprint.errorhandler(PayLinkError)
def _pay_link_error(error: PayLinkError):
    return _link_error_page(error, refusal_status(error))


def _invoice_for(token: str) -> Invoice:
    """The invoice of a valid link, counted against the link's and the address's limits."""
    found = services().pay_links.invoice_for(db.session, token)
    service.check_view_allowed(db.session, token=token, ip_address=request.remote_addr or "unknown",
                               limits=services().guest_limits)
    return found


def _pay_page(found: Invoice, token: str, form: GuestPayForm, *, error: str | None = None, status_code: int = 200,
              offer_card: bool = True):
    context = payment_context()
    setup = None
    if offer_card:
        try:
            setup = context.gateway.start_card_setup(customer_id=None)
        except PaymentError:
            # The card processor cannot be reached: the invoice and its PDF are still shown.
            error = error or str(CARD_FORM_UNAVAILABLE)
        else:
            form.setup_id.data = setup.setup_id
    own_clerk = current_user.is_authenticated and current_user.is_clerk and current_user.company_id == found.company_id
    return render_template(
        "guest/pay.html", invoice=found, token=token, form=form, setup=setup, context=context, error=error,
        partial_allowed=current_app.config["ACQUIT_GUEST_PARTIAL_PAYMENTS"], own_clerk=own_clerk,
        payable=undisputed_amount_due(db.session, found),
    ), status_code


def _settled_page(found: Invoice, token: str, status: InvoiceStatus):
    return render_template("guest/settled.html", invoice=found, token=token, status=status,
                           payment=service.last_payment(db.session, found)), 200


def _link_error_page(error: PayLinkError, status_code: int):
    if isinstance(error, ExpiredPayLink):
        kind = "expired"
    elif isinstance(error, RevokedPayLink):
        kind = "revoked"
    elif isinstance(error, PayLinkLocked):
        kind = "locked"
    else:
        kind = "invalid"
    return render_template("guest/link_error.html", kind=kind, message=refusal_message(error)), status_code


def _pay_form(found: Invoice, **kwargs) -> GuestPayForm:
    """The guest's form: a part amount is typed in the invoice's currency, up to what can be paid on it now."""
    return GuestPayForm(currency=found.currency, at_most=undisputed_amount_due(db.session, found), **kwargs)


def _allowed_amount(form: GuestPayForm) -> int | None:
    return form.amount_in_minor_units() if current_app.config["ACQUIT_GUEST_PARTIAL_PAYMENTS"] else None


def _retry(form: GuestPayForm) -> GuestPayForm:
    form.attempt_key.data = uuid.uuid4().hex
    return form
