import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.audit import Actor
from portal.billing import history
from portal.blueprints.guards import clerk_required, current_company, payer_required
from portal.blueprints.payments import blueprint, payment_context
from portal.blueprints.redirects import local_path
from portal.blueprints.forms import row_ids
from portal.blueprints.payments.forms import MAX_INVOICES_PER_PAYMENT, CardSetupForm, ConfirmForm, PayForm
from portal.disputes.service import undisputed_amounts_due
from portal.extensions import db
from portal.models import PaymentStatus
from portal.payments import service
from portal.payments.errors import PaymentError


@blueprint.route("")
@clerk_required
def index():
    return render_template("payments/index.html", payments=service.company_payments(db.session, current_company().id))


@blueprint.route("/new")
@payer_required
def new():
    company = current_company()
    invoice_ids = row_ids(request.args.getlist("invoice"))[:MAX_INVOICES_PER_PAYMENT]
    if not invoice_ids:
        flash(_("Tick the invoices you want to pay, then choose “Pay the selected invoices”."), "info")
        return redirect(url_for("invoices.index"), code=303)
    form = PayForm(currency=company.currency, data={"invoice": invoice_ids, "attempt_key": uuid.uuid4().hex})
    return _payment_page(form, invoice_ids)


@blueprint.route("", methods=["POST"])
@payer_required
def create():
    company = current_company()
    form = PayForm(currency=company.currency)
    invoice_ids = row_ids(form.invoice.data or [])
    _offer_cards(form)
    if not form.validate():
        return _payment_page(form, invoice_ids, status=400)
    try:
        payment = service.pay_invoices(
            db.session, payment_context(), Actor.user(current_user), company=company,
            request=service.PaymentRequest(invoice_ids=tuple(invoice_ids), attempt_key=form.attempt_key.data,
                                           amount=form.amount_in_minor_units(), card_id=form.card.data),
            receipt_email=current_user.email,
        )
    except PaymentError as error:
        return _payment_page(_fresh_attempt(form), invoice_ids, error=str(error), status=409)
    if payment.status == PaymentStatus.FAILED:
        return _payment_page(_fresh_attempt(form), invoice_ids, error=payment.failure_message, status=402)
    return redirect(url_for("payments.show", payment_id=payment.id), code=303)


@blueprint.route("/<int:payment_id>")
@clerk_required
def show(payment_id: int):
    payment = service.company_payment(db.session, current_company().id, payment_id)
    client_secret = None
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        client_secret = service.authentication_secret(payment_context(), payment)
    return render_template("payments/show.html", payment=payment, client_secret=client_secret,
                           context=payment_context() if client_secret else None, form=ConfirmForm())


@blueprint.route("/<int:payment_id>/check", methods=["POST"])
@payer_required
def check(payment_id: int):
    if ConfirmForm().validate_on_submit():
        service.check_after_authentication(db.session, payment_context(), Actor.user(current_user),
                                           company=current_company(), payment_id=payment_id)
    return redirect(url_for("payments.show", payment_id=payment_id), code=303)


@blueprint.route("/<int:payment_id>/cancel", methods=["POST"])
@payer_required
def cancel(payment_id: int):
    if ConfirmForm().validate_on_submit():
        service.cancel_payment(db.session, payment_context(), Actor.user(current_user), company=current_company(),
                               payment_id=payment_id)
    return redirect(url_for("payments.show", payment_id=payment_id), code=303)


@blueprint.route("/cards")
@payer_required
def cards():
    return render_template("payments/cards.html", cards=service.company_cards(db.session, current_company().id),
                           form=ConfirmForm())


@blueprint.route("/cards/new")
@payer_required
def new_card():
    setup = service.start_saving_card(db.session, payment_context(), company=current_company(),
                                      email=current_user.email)
    return render_template("payments/card_new.html", setup=setup, context=payment_context(),
                           form=CardSetupForm(data={"setup_id": setup.setup_id}),
                           next_url=local_path(request.args.get("next")))


@blueprint.route("/cards", methods=["POST"])
@payer_required
def save_card():
    form = CardSetupForm()
    if not form.validate_on_submit():
        flash(_("The card was not saved. Please try again."), "error")
        return redirect(url_for("payments.new_card"), code=303)
    card = service.finish_saving_card(db.session, payment_context(), Actor.user(current_user),
                                      company=current_company(), setup_id=form.setup_id.data)
    flash(_("Card %(brand)s •••• %(last4)s saved.", brand=card.brand.title(), last4=card.last4), "success")
    return redirect(local_path(request.args.get("next")) or url_for("payments.cards"), code=303)


@blueprint.route("/cards/<int:card_id>/default", methods=["POST"])
@payer_required
def make_default_card(card_id: int):
    if ConfirmForm().validate_on_submit():
        service.set_default_card(db.session, Actor.user(current_user), company=current_company(), card_id=card_id)
    return redirect(url_for("payments.cards"), code=303)


@blueprint.route("/cards/<int:card_id>/remove", methods=["POST"])
@payer_required
def remove_card(card_id: int):
    if ConfirmForm().validate_on_submit():
        service.remove_card(db.session, payment_context(), Actor.user(current_user), company=current_company(),
                            card_id=card_id)
        flash(_("The card was removed."), "info")
    return redirect(url_for("payments.cards"), code=303)


@blueprint.errorhandler(PaymentError)
def _payment_error(error: PaymentError):
    status = 404 if error.code == "not_found" else 409
    return render_template("errors/error.html", code=status, message=str(error)), status


def _payment_page(form: PayForm, invoice_ids: list[int], *, error: str | None = None, status: int = 200):
    company = current_company()
    invoices = history.find_customer_invoices(db.session, company.id, invoice_ids) if invoice_ids else []
    payable = undisputed_amounts_due(db.session, invoices)
    _offer_cards(form)
    return render_template(
        "payments/new.html", form=form, invoices=invoices, error=error, payable=payable,
        total=sum(payable.values()), currency=company.currency,
    ), status


def _offer_cards(form: PayForm) -> None:
    cards = service.company_cards(db.session, current_company().id)
    form.card.choices = [(card.id, f"{card.brand.title()} •••• {card.last4} — {card.exp_month:02d}/{card.exp_year % 100:02d}")
                         for card in cards]
    if form.card.data is None and cards:
        form.card.data = cards[0].id


def _fresh_attempt(form: PayForm) -> PayForm:
    form.attempt_key.data = uuid.uuid4().hex
    return form
