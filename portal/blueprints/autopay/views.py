"""Autopay, the customer's side: see it, turn it on (choose, review, accept), stop it, approve an invoice."""

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import clock
from portal.accounts.permissions import Action
from portal.autopay import enrolment, queries
from portal.autopay.enrolment import EnrolmentTerms
from portal.autopay.errors import AutopayNotAllowed
from portal.billing import history
from portal.blueprints.autopay import blueprint, mandate_context
from portal.blueprints.autopay.forms import AcceptForm, TermsForm
from portal.blueprints.forms import row_ids
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.payments.forms import ConfirmForm
from portal.errors import refusal_message, refusal_status
from portal.extensions import db, htmx
from portal.i18n import amount_example, typed_amount
from portal.payments import cards as saved_cards
from portal.payments.cards import card_summary


@blueprint.route("")
@permission_required(Action.VIEW_INVOICES)
def index():
    company = current_company()
    # Coming back from "Change the terms" or from saving a card (`card` then names the new one).
    chosen = {"card": next(iter(row_ids(request.args.getlist("card"))), None),
              "days_before_due": request.args.get("days_before_due", type=int),
              "maximum": request.args.get("maximum")}
    return _index_page(TermsForm(formdata=None, currency=company.currency, data=_prefill(chosen)))


@blueprint.route("/terms", methods=["POST"])
@permission_required(Action.AUTOPAY)
def choose_terms():
    form = TermsForm(currency=current_company().currency)
    _offer_cards(form)
    if not form.validate():
        return _index_page(form, status=400)
    terms = form.terms()
    # The review is a page of its own (reload, back, another language) that names the terms in minor units.
    return redirect(url_for("autopay.review", card=terms.card_id, days_before_due=terms.days_before_due,
                            max_amount=terms.max_amount), code=303)


@blueprint.route("/review")
@permission_required(Action.AUTOPAY)
def review():
    terms = _terms_in_query()
    if terms is None:
        return redirect(url_for("autopay.index"), code=303)
    try:
        text = enrolment.mandate_to_review(db.session, current_user, company=current_company(), terms=terms,
                                           context=mandate_context())
    except AutopayNotAllowed as refused:
        return _refused_page(refused, terms)
    return _review_page(terms, text)


@blueprint.route("/enrolment", methods=["POST"])
@permission_required(Action.AUTOPAY)
def enrol():
    company = current_company()
    form = AcceptForm()
    valid = form.validate()
    terms = form.terms()
    if terms is None:
        return _index_page(error=_("The request could not be understood. Check what you entered and try again."),
                           status=400)
    try:
        if not valid:
            text = enrolment.mandate_to_review(db.session, current_user, company=company, terms=terms,
                                               context=mandate_context())
            return _review_page(terms, text, form=form, status=400)
        enrolled = enrolment.enrol(db.session, current_user, company=company, terms=terms,
                                   accepted_text=form.accepted_text(), ip_address=request.remote_addr or "",
                                   context=mandate_context())
    except AutopayNotAllowed as refused:
        return _refused_page(refused, terms)
    flash(_("Autopay is on: your invoices will be charged to %(card)s. The authorisation you accepted has been "
            "e-mailed to you.", card=card_summary(enrolled.card)), "success")
    return redirect(url_for("autopay.index"), code=303)


@blueprint.route("/cancel")
@permission_required(Action.AUTOPAY)
def confirm_cancel():
    state = queries.company_autopay(db.session, current_company().id)
    if htmx and not htmx.history_restore_request:
        return render_template("autopay/_cancel.html", state=state, form=ConfirmForm())
    return render_template("autopay/cancel.html", state=state, form=ConfirmForm())


@blueprint.route("/cancel", methods=["POST"])
@permission_required(Action.AUTOPAY)
def cancel():
    if ConfirmForm().validate_on_submit():
        stopped = enrolment.cancel(db.session, current_user, company=current_company())
        if stopped is not None:
            flash(_("Autopay is off. No invoice will be charged automatically from now on."), "success")
    if htmx:
        return Response(status=204, headers={"HX-Redirect": url_for("autopay.index")})
    return redirect(url_for("autopay.index"), code=303)


@blueprint.route("/invoices/<int:invoice_id>/approve", methods=["POST"])
@permission_required(Action.AUTOPAY)
def approve(invoice_id: int):
    company = current_company()
    invoice = history.find_customer_invoice(db.session, company.id, invoice_id)
    error, message, status = None, None, 200
    if not ConfirmForm().validate_on_submit():
        error, status = _("This form has expired. Reload the page and try again."), 400
    else:
        try:
            enrolment.approve(db.session, current_user, company=company, invoice=invoice)
        except AutopayNotAllowed as refused:
            error, status = refusal_message(refused), refusal_status(refused)
        else:
            message = _("Invoice %(number)s approved: autopay will charge it.", number=invoice.number)
    if htmx:
        # htmx swaps a 422, not a 409 (see base.html's htmx-config): the refusal is shown in place.
        return render_template("autopay/_upcoming.html", **_upcoming_context(), message=message,
                               error=error), 200 if error is None else 422
    if error is not None:
        return _index_page(error=error, status=status)
    flash(message, "success")
    return redirect(url_for("autopay.index", _anchor="upcoming"), code=303)


def _index_page(form: TermsForm | None = None, *, error: str | None = None, status: int = 200):
    company = current_company()
    state = queries.company_autopay(db.session, company.id)
    if form is None:
        form = TermsForm(formdata=None, currency=company.currency, data=_prefill({}))
    _offer_cards(form, state=state)
    return render_template("autopay/index.html", state=state, form=form, error=error, currency=company.currency,
                           maximum_example=amount_example(company.currency),
                           notice_days=mandate_context().settings.notice_days, **_upcoming_context()), status


def _upcoming_context() -> dict:
    company_id = current_company().id
    live = enrolment.live_enrolment(db.session, company_id)
    return {"upcoming": enrolment.upcoming_charges(db.session, company_id, today=clock.today()),
            "left_out": enrolment.left_out(db.session, company_id, live.covers_from) if live else None,
            "autopay": live, "confirm_form": ConfirmForm()}


def _review_page(terms: EnrolmentTerms, text: str, *, form: AcceptForm | None = None, error: str | None = None,
                 status: int = 200):
    company = current_company()
    accept_form = AcceptForm(formdata=None, data={"card": terms.card_id, "days_before_due": terms.days_before_due,
                                                  "max_amount": terms.max_amount})
    # Always the text this page shows, even when a stale one was posted.
    accept_form.mandate.data = text
    if form is not None:
        accept_form.accept.errors = form.accept.errors
    state = queries.company_autopay(db.session, company.id)
    change_terms_url = url_for("autopay.index", card=terms.card_id, days_before_due=terms.days_before_due,
                               maximum=typed_amount(terms.max_amount, company.currency) or None)
    preview = enrolment.acceptance_preview(db.session, company, terms, today=clock.today())
    return render_template("autopay/review.html", mandate=text, form=accept_form, state=state, error=error,
                           change_terms_url=change_terms_url, preview=preview), status


def _refused_page(refused: AutopayNotAllowed, terms: EnrolmentTerms):
    """Where a refusal is shown: terms to accept again if only the text changed, else the terms to choose again."""
    if refused.code == "mandate_changed":
        text = enrolment.mandate_text(db.session, current_company(), terms, mandate_context())
        return _review_page(terms, text, error=refusal_message(refused), status=409)
    return _index_page(error=refusal_message(refused), status=refusal_status(refused))


def _offer_cards(form: TermsForm, *, state: queries.CompanyAutopay | None = None) -> None:
    """Offer the company's cards that can still be charged; unless one is chosen, the live enrolment's card,
    else the default one."""
    today = clock.today()
    cards = [card for card in saved_cards.company_cards(db.session, current_company().id)
             if not enrolment.card_expired(card, today)]
    form.card.choices = [(card.id, f"{card_summary(card)} — {card.exp_month:02d}/{card.exp_year % 100:02d}")
                         for card in cards]
    if form.card.data is None and cards:
        current = state.enrolment.saved_card_id if state is not None and state.enrolment is not None else None
        form.card.data = next((card.id for card in cards if card.id == current), cards[0].id)


def _prefill(chosen: dict) -> dict:
    """The terms form's starting values: what the query names, else the live enrolment's terms."""
    company = current_company()
    live = enrolment.live_enrolment(db.session, company.id)
    days = chosen.get("days_before_due")
    maximum = chosen.get("maximum")
    if live is not None:
        days = live.days_before_due if days is None else days
        maximum = maximum if maximum is not None else typed_amount(live.max_amount, company.currency)
    return {"card": chosen.get("card"), "days_before_due": days or 0, "maximum": maximum or ""}


def _terms_in_query() -> EnrolmentTerms | None:
    card = next(iter(row_ids(request.args.getlist("card"))), None)
    days = request.args.get("days_before_due", type=int)
    max_amount = request.args.get("max_amount", type=int)
    if card is None or days is None or (request.args.get("max_amount") and max_amount is None):
        return None
    return EnrolmentTerms(card_id=card, days_before_due=days, max_amount=max_amount)
