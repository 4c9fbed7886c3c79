"""The collections team records money received outside the portal (bank transfer, cheque), or cancels one
recorded by mistake."""

import uuid

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from portal import clock
from portal.audit import Actor
from portal.billing.errors import InvalidAmount
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.forms import CancelPaymentForm, MoneyReceivedForm
from portal.blueprints.collections.views import payment_page
from portal.blueprints.forms import row_ids, typed_amount_in_minor_units
from portal.blueprints.guards import staff_required
from portal.extensions import db
from portal.i18n import OFFLINE_METHOD_LABELS, amount_example, money, typed_amount
from portal.models import Company, OfflineMethod
from portal.payments.offline import (
    MoneyReceived,
    OfflinePaymentRefused,
    cancel_money_received,
    invoices_open_for_receipt,
    record_money_received,
)
from portal.payments.queries import payment_or_none

# What each refusal (OfflinePaymentRefused's `code`) says to the collections team.
REFUSALS = {
    "no_invoice": _l("Choose at least one invoice."),
    "invoice_twice": _l("Each invoice can be chosen once."),
    "reference_required": _l("Enter the transfer's reference or the cheque's number."),
    "received_in_future": _l("The date received cannot be in the future."),
    "amount_not_positive": _l("Enter amounts greater than zero."),
    "shares_do_not_add_up": _l("The invoices' shares add up to %(allocated)s, not the %(amount)s received. "
                               "Change the shares or the amount."),
    "not_found": _l("One of these invoices is not this customer's."),
    "wrong_currency": _l("Invoice %(number)s is in %(invoice_currency)s, not %(currency)s."),
    "nothing_owed": _l("Invoice %(number)s owes nothing: it is paid or void."),
    "above_owed": _l("%(share)s is more than the %(owed)s still owed on invoice %(number)s."),
    "payment_in_progress": _l("A card payment of one of these invoices is being made right now. "
                              "Wait for it to end, then check what is still owed."),
    "reason_required": _l("Say why the payment is cancelled."),
    "not_cancellable": _l("Only a recorded bank transfer or cheque can be cancelled."),
}


def refusal_message(error: OfflinePaymentRefused) -> str:
    """The refusal in the page's language, its amounts formatted as the page writes them."""
    details = dict(error.details)
    currency = details.get("currency")
    for name in ("allocated", "amount", "share", "owed"):
        if name in details:
            details[name] = money(details[name], currency)
    message = REFUSALS.get(error.code)
    return str(message) % details if message is not None else str(error)


@blueprint.route("/companies/<ref>/money-received", methods=["GET", "POST"])
@staff_required
def record_transfer(ref: str):
    company = db.session.scalar(select(Company).where(Company.external_ref == ref))
    if company is None:
        abort(404)
    open_invoices = invoices_open_for_receipt(db.session, company)
    currencies = sorted({invoice.currency for invoice in open_invoices} | {company.currency})
    if request.method == "GET":
        return _record_page(company, open_invoices, _new_form(company, open_invoices, currencies))
    form = MoneyReceivedForm(currency=_chosen(request.form.get("currency_code"), currencies, company.currency))
    form.currency_code.choices = [SelectChoice(currency, currency) for currency in currencies]
    chosen = row_ids(request.form.getlist("invoice"))
    share_errors: dict[int, str] = {}
    if not form.validate_on_submit():
        return _record_page(company, open_invoices, form, chosen=chosen, status=400)
    shares = _shares(form, chosen, share_errors)
    if share_errors:
        return _record_page(company, open_invoices, form, chosen=chosen, share_errors=share_errors, status=400)
    received = MoneyReceived(method=OfflineMethod(form.method.data), reference=form.reference.data,
                             received_on=form.received_on.data, amount=form.amount_in_minor_units(),
                             currency=form.currency_code.data, shares=tuple(shares), attempt_key=form.attempt_key.data)
    try:
        payment = record_money_received(db.session, Actor.user(current_user), company=company, received=received,
                                        today=clock.today())
    except OfflinePaymentRefused as refused:
        return _record_page(company, open_invoices, form, chosen=chosen, error=refusal_message(refused), status=409)
    db.session.commit()
    flash(_("%(method)s of %(amount)s recorded against %(invoices)s.",
            method=OFFLINE_METHOD_LABELS[form.method.data],
            amount=money(payment.amount, payment.currency),
            invoices=", ".join(allocation.invoice.number for allocation in payment.allocations)), "success")
    return redirect(url_for("collections.payment", payment_id=payment.id), code=303)


@blueprint.route("/payments/<int:payment_id>/cancel", methods=["POST"])
@staff_required
def cancel_transfer(payment_id: int):
    found = payment_or_none(db.session, payment_id)
    if found is None:
        abort(404)
    form = CancelPaymentForm()
    if not form.validate_on_submit():
        return payment_page(found, cancel_form=form, status=400)
    try:
        cancel_money_received(db.session, Actor.user(current_user), payment_id=found.id, reason=form.reason.data)
    except OfflinePaymentRefused as refused:
        return payment_page(found, cancel_form=form, error=refusal_message(refused), status=409)
    db.session.commit()
    flash(_("Payment cancelled: its invoices owe again what it had settled."), "success")
    return redirect(url_for("collections.payment", payment_id=found.id), code=303)


def _new_form(company: Company, open_invoices, currencies) -> MoneyReceivedForm:
    """The empty form, with the invoices asked for (?invoice=) ticked and the amount they owe filled in."""
    asked = set(row_ids(request.args.getlist("invoice")))
    preselected = [invoice for invoice in open_invoices if invoice.id in asked]
    currency = preselected[0].currency if preselected else company.currency
    form = MoneyReceivedForm(formdata=None, currency=currency, received_on=clock.today(),
                             attempt_key=uuid.uuid4().hex)
    form.currency_code.choices = [SelectChoice(currency, currency) for currency in currencies]
    form.currency_code.data = currency
    owed = sum(invoice.amount_due for invoice in preselected if invoice.currency == currency)
    if owed:
        form.amount.data = typed_amount(owed, currency)
    form.preselected = [invoice.id for invoice in preselected]
    return form


def _shares(form: MoneyReceivedForm, chosen: list[int], errors: dict[int, str]) -> list[tuple[int, int]]:
    """Each ticked invoice with its share in minor units; a lone invoice with no share takes the whole amount."""
    shares = []
    for invoice_id in chosen:
        typed = (request.form.get(f"share-{invoice_id}") or "").strip()
        if not typed and len(chosen) == 1:
            shares.append((invoice_id, form.amount_in_minor_units()))
            continue
        if not typed:
            errors[invoice_id] = _("Enter how much of the amount goes to this invoice.")
            continue
        try:
            shares.append((invoice_id, typed_amount_in_minor_units(typed, form.currency_code.data)))
        except InvalidAmount:
            errors[invoice_id] = _("Enter an amount such as %(example)s.", example=amount_example(form.currency_code.data))
    return shares


def _chosen(value: str | None, allowed: list[str], default: str) -> str:
    return value if value in allowed else default


def _record_page(company, open_invoices, form, *, chosen=None, share_errors=None, error=None, status=200):
    chosen = set(chosen if chosen is not None else getattr(form, "preselected", []))
    return render_template(
        "collections/record_transfer.html", company=company, open_invoices=open_invoices, form=form,
        chosen=chosen, typed_shares={key[len("share-"):]: value for key, value in request.form.items()
                                     if key.startswith("share-")},
        share_errors=share_errors or {}, error=error,
    ), status
