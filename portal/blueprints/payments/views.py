import uuid
from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.permissions import Action
from portal.approvals import rules as approval_rules
from portal.approvals import service as approvals
from portal.approvals.errors import ApprovalError
from portal.audit import Actor
from portal.billing import history
from portal.billing.payable import undisputed_amounts_due
from portal.blueprints.app_services import payment_context
from portal.blueprints.approvals import refusal as approval_refusal
from portal.blueprints.forms import row_ids
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.payments import blueprint, checked_payment_poll
from portal.blueprints.payments.forms import MAX_INVOICES_PER_PAYMENT, CardSetupForm, ConfirmForm, PayForm
from portal.blueprints.redirects import local_path, with_query_parameter
from portal.errors import failure_message, refusal_message, refusal_status
from portal.extensions import db
from portal.models import Invoice, PaymentApproval, PaymentStatus
from portal.payments import cards as saved_cards
from portal.payments.charging import (
    PaymentRequest,
    authentication_secret,
    cancel_payment,
    check_after_authentication,
)
from portal.payments.errors import PaymentError
from portal.payments.queries import company_payment, company_payments_page


@blueprint.route("")
@permission_required(Action.VIEW_INVOICES)
def index():
    page = request.args.get("page", default=1, type=int)
    return render_template("payments/index.html",
                           page=company_payments_page(db.session, current_company().id, page=page))


@blueprint.route("/new")
@permission_required(Action.PAY)
def new():
    company = current_company()
    invoice_ids = row_ids(request.args.getlist("invoice"))[:MAX_INVOICES_PER_PAYMENT]
    if not invoice_ids:
        flash(_("Tick the invoices you want to pay, then choose “Pay the selected invoices”."), "info")
        return redirect(url_for("invoices.index"), code=303)
    selection = _selection(invoice_ids)
    form = PayForm(currency=selection.currency or company.currency, at_most=selection.at_most,
                   data={"invoice": invoice_ids, "attempt_key": uuid.uuid4().hex})
    # A card just saved from this page comes back named in the query: it is the one to charge.
    return _payment_page(form, selection, preferred_card=next(iter(row_ids(request.args.getlist("card"))), None))


@blueprint.route("", methods=["POST"])
@permission_required(Action.PAY)
def create():
    company = current_company()
    form = PayForm(currency=company.currency)
    invoice_ids = row_ids(form.invoice.data or [])
    selection = _selection(invoice_ids)
    # Known once the posted invoices are read: the amount is typed in their currency, up to what they owe now.
    form.currency, form.at_most = selection.currency or company.currency, selection.at_most
    _offer_cards(form)
    if selection.mixed_currencies:
        return _payment_page(form, selection, status=409)
    if not form.validate():
        return _payment_page(form, selection, status=400)
    try:
        # Above the company's approval threshold this prepares the payment for a second person instead.
        payment = approvals.submit_payment(
            db.session, payment_context(), current_user, company=company,
            request=PaymentRequest(invoice_ids=tuple(invoice_ids), attempt_key=form.attempt_key.data,
                                   amount=form.amount_in_minor_units(), card_id=form.card.data),
            receipt_email=current_user.email,
        )
    except PaymentError as error:
        return _payment_page(_fresh_attempt(form), _selection(invoice_ids), error=refusal_message(error),
                             status=refusal_status(error))
    except ApprovalError as refused:
        message, status = approval_refusal(refused)
        return _payment_page(_fresh_attempt(form), _selection(invoice_ids), error=message, status=status)
    if isinstance(payment, PaymentApproval):
        flash(_("This payment is above your company's approval threshold: it waits for a second person's "
                "approval. Nothing is charged until then."), "info")
        return redirect(url_for("approvals.show", approval_id=payment.id), code=303)
    if payment.status == PaymentStatus.FAILED:
        return _payment_page(_fresh_attempt(form), _selection(invoice_ids),
                             error=failure_message(payment.failure_code), status=402)
    return redirect(url_for("payments.show", payment_id=payment.id), code=303)


@blueprint.route("/<int:payment_id>")
@permission_required(Action.VIEW_INVOICES)
def show(payment_id: int):
    payment = company_payment(db.session, current_company().id, payment_id)
    if (poll_answer := checked_payment_poll(payment)) is not None:
        return poll_answer
    client_secret = None
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        client_secret = authentication_secret(payment_context(), payment)
    return render_template("payments/show.html", payment=payment, client_secret=client_secret,
                           context=payment_context() if client_secret else None, form=ConfirmForm())


@blueprint.route("/<int:payment_id>/check", methods=["POST"])
@permission_required(Action.PAY)
def check(payment_id: int):
    if ConfirmForm().validate_on_submit():
        check_after_authentication(db.session, payment_context(), Actor.user(current_user),
                                           company=current_company(), payment_id=payment_id)
    return redirect(url_for("payments.show", payment_id=payment_id), code=303)


@blueprint.route("/<int:payment_id>/cancel", methods=["POST"])
@permission_required(Action.PAY)
def cancel(payment_id: int):
    if ConfirmForm().validate_on_submit():
        cancel_payment(db.session, payment_context(), Actor.user(current_user), company=current_company(),
                               payment_id=payment_id)
    return redirect(url_for("payments.show", payment_id=payment_id), code=303)


@blueprint.route("/cards")
@permission_required(Action.SAVE_CARDS)
def cards():
    return render_template("payments/cards.html", cards=saved_cards.company_cards(db.session, current_company().id),
                           form=ConfirmForm())


@blueprint.route("/cards/new")
@permission_required(Action.SAVE_CARDS)
def new_card():
    setup = saved_cards.start_saving_card(db.session, payment_context(), company=current_company(),
                                      email=current_user.email)
    return render_template("payments/card_new.html", setup=setup, context=payment_context(),
                           form=CardSetupForm(data={"setup_id": setup.setup_id}),
                           next_url=local_path(request.args.get("next")))


@blueprint.route("/cards", methods=["POST"])
@permission_required(Action.SAVE_CARDS)
def save_card():
    form = CardSetupForm()
    if not form.validate_on_submit():
        flash(_("The card was not saved. Please try again."), "error")
        return redirect(url_for("payments.new_card"), code=303)
    card = saved_cards.finish_saving_card(db.session, payment_context(), Actor.user(current_user),
                                      company=current_company(), setup_id=form.setup_id.data)
    flash(_("Card %(brand)s •••• %(last4)s saved.", brand=card.brand.title(), last4=card.last4), "success")
    back_to = local_path(request.args.get("next"))
    # Back on the page that asked for it (the pay page), the new card is the one chosen.
    return redirect(with_query_parameter(back_to, "card", card.id) if back_to else url_for("payments.cards"), code=303)


@blueprint.route("/cards/<int:card_id>/default", methods=["POST"])
@permission_required(Action.SAVE_CARDS)
def make_default_card(card_id: int):
    if ConfirmForm().validate_on_submit():
        saved_cards.set_default_card(db.session, Actor.user(current_user), company=current_company(), card_id=card_id)
    return redirect(url_for("payments.cards"), code=303)


@blueprint.route("/cards/<int:card_id>/remove", methods=["POST"])
@permission_required(Action.SAVE_CARDS)
def remove_card(card_id: int):
    if ConfirmForm().validate_on_submit():
        saved_cards.remove_card(db.session, payment_context(), Actor.user(current_user), company=current_company(),
                            card_id=card_id)
        flash(_("The card was removed."), "info")
    return redirect(url_for("payments.cards"), code=303)


@dataclass(frozen=True)
class _Selection:
    """The invoices a pay page is about and what can be paid on each now, by invoice id."""

    invoices: list[Invoice]
    payable: dict[int, int]

    @property
    def currency(self) -> str | None:
        """The invoices' one currency, which the page reads and shows amounts in; None if there are several."""
        currencies = {invoice.currency for invoice in self.invoices}
        return currencies.pop() if len(currencies) == 1 else None

    @property
    def mixed_currencies(self) -> bool:
        return len({invoice.currency for invoice in self.invoices}) > 1

    @property
    def total(self) -> int:
        return sum(self.payable.values())

    @property
    def at_most(self) -> int | None:
        """The most a part payment may be: what can be paid now on the one invoice (parts are for one invoice)."""
        return self.total if len(self.invoices) == 1 else None


def _selection(invoice_ids: list[int]) -> _Selection:
    invoices = history.find_customer_invoices(db.session, current_company().id, invoice_ids) if invoice_ids else []
    return _Selection(invoices, undisputed_amounts_due(db.session, invoices))


def _payment_page(form: PayForm, selection: _Selection, *, error: str | None = None, status: int = 200,
                  preferred_card: int | None = None):
    cards = _offer_cards(form, preferred=preferred_card)
    rule = approvals.company_rule(db.session, current_company().id)
    return render_template(
        "payments/new.html", form=form, invoices=selection.invoices, error=error, payable=selection.payable,
        approval_rule=rule, needs_approval=bool(selection.currency) and approval_rules.needs_approval(
            rule, selection.total, selection.currency),
        total=selection.total, currency=selection.currency, mixed_currencies=selection.mixed_currencies,
        card_names={card.id: saved_cards.card_summary(card) for card in cards},
        pay_page_url=url_for("payments.new", invoice=[invoice.id for invoice in selection.invoices]),
    ), status


def _offer_cards(form: PayForm, *, preferred: int | None = None) -> list:
    """Offer the company's cards on `form`; unless one is chosen already, `preferred` if it is theirs, else the default."""
    cards = saved_cards.company_cards(db.session, current_company().id)
    form.card.choices = [(card.id, f"{card.brand.title()} •••• {card.last4} — {card.exp_month:02d}/{card.exp_year % 100:02d}")
                         for card in cards]
    if form.card.data is None and cards:
        form.card.data = next((card.id for card in cards if card.id == preferred), cards[0].id)
    return cards


def _fresh_attempt(form: PayForm) -> PayForm:
    form.attempt_key.data = uuid.uuid4().hex
    return form
