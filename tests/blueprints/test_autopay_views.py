"""The autopay page through HTTP, on the in-memory gateway: choose the terms, read the mandate,
accept it (stored word for word with who, when and from where), change, stop, approve; who
may do which; and the page in both languages.

tests/browser/test_autopay_browser.py enrols again in Chromium, on localstripe.
"""

from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit import Actor
from portal.autopay import enrolment as autopay
from portal.autopay.enrolment import EnrolmentTerms, MandateContext
from portal.autopay.settings import AutopaySettings
from portal.models import AutopayApproval, AutopayEnrolment, AutopayStatus, Role
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, visible_text

HTMX = {"HX-Request": "true"}
SUPPLIER = "Acquit Demo Supplier"


@pytest.fixture
def company(make):
    return make.company(name="Alpha Widgets SAS", currency="EUR", locale="en")


@pytest.fixture
def payer(make, company):
    return make.user(company, role=Role.PAYER)


@pytest.fixture
def signed_in(client, login_as):
    """Sign `user` in, pages in `language`; returns the client."""

    def sign_in(user, language: str = "en"):
        login_as(user)
        set_language(client, language)
        return client

    return sign_in


def save_card(app, make, company, user, number: str = "4242424242424242"):
    """A card saved through the app's (fake) gateway, as the card page would."""
    context = services_of(app).payments
    setup = start_saving_card(make.session, context, company=company, email=user.email)
    context.gateway.complete_setup(setup.setup_id, number)
    card = finish_saving_card(make.session, context, Actor.user(user), company=company, setup_id=setup.setup_id)
    make.session.flush()
    return card


def expected_mandate(db, app, company, terms: EnrolmentTerms, locale: str = "en") -> str:
    settings = AutopaySettings(notice_days=app.config["ACQUIT_AUTOPAY_NOTICE_DAYS"])
    return autopay.mandate_text(db, company, terms, MandateContext(SUPPLIER, locale, settings, clock.today()))


def enrolments(db, company) -> list[AutopayEnrolment]:
    db.expire_all()
    return list(db.scalars(select(AutopayEnrolment).where(AutopayEnrolment.company_id == company.id)
                           .order_by(AutopayEnrolment.id)))


def accept_form(response) -> dict:
    """What the review page's form posts once "I accept" is ticked."""
    form = page(response).find("form", **{"data-autopay-accept": ""})
    fields = {element.attrs["name"]: element.attrs.get("value", "") for element in form.find_all("input")
              if element.attrs.get("type") != "checkbox"}
    return {**fields, "accept": "y"}


def choose(client, card, *, days: int = 0, maximum: str = ""):
    return client.post("/autopay/terms", data={"card": card.id, "days_before_due": days, "maximum": maximum})


def review(client, card, **terms):
    chosen = choose(client, card, **terms)
    assert chosen.status_code == 303, visible_text(chosen)
    return client.get(chosen.headers["Location"])


def enrolled(client, card, **terms) -> None:
    response = client.post("/autopay/enrolment", data=accept_form(review(client, card, **terms)))
    assert response.status_code == 303, visible_text(response)
    client.get(response.headers["Location"])  # where its confirmation is shown (and used up)


# --- Enrolling -------------------------------------------------------------------------------


def test_a_payer_without_autopay_sees_it_off_and_the_terms_to_choose(app, make, company, payer, signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)

    response = client.get("/autopay")

    assert response.status_code == 200
    text = visible_text(response)
    assert "Autopay is off" in text
    assert "Turn autopay on" in text
    form = page(response).find("form", **{"data-autopay-terms": ""})
    assert form.find("input", type="radio", name="card").attrs["value"] == str(card.id)
    assert [option.text for option in form.find("select", name="days_before_due").find_all("option")][:3] == [
        "On the due date", "1 day before the due date", "2 days before the due date"]
    assert page(response).find("a", href="/payments/cards/new?next=/autopay").text == "Add another card"


def test_choose_review_accept_stores_the_exact_mandate_with_who_and_from_where(app, db, make, company, payer,
                                                                               signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)

    chosen = choose(client, card, days=3, maximum="1,000.50")
    assert chosen.status_code == 303
    location = urlsplit(chosen.headers["Location"])
    assert location.path == "/autopay/review"
    assert parse_qs(location.query) == {"card": [str(card.id)], "days_before_due": ["3"], "max_amount": ["100050"]}

    shown = client.get(chosen.headers["Location"])
    terms = EnrolmentTerms(card_id=card.id, days_before_due=3, max_amount=100_050)
    mandate = expected_mandate(db, app, company, terms)
    assert shown.status_code == 200
    assert page(shown).find("blockquote", **{"data-mandate": ""}).text == " ".join(mandate.split())
    assert "3 days before its due date" in mandate and "€1,000.50" in mandate
    assert accept_form(shown)["mandate"] == mandate
    assert enrolments(db, company) == []

    accepted = client.post("/autopay/enrolment", data=accept_form(shown))

    assert accepted.status_code == 303 and accepted.headers["Location"] == "/autopay"
    [stored] = enrolments(db, company)
    assert stored.mandate_text == mandate
    assert (stored.accepted_by_user_id, stored.accepted_ip) == (payer.id, "127.0.0.1")
    assert (stored.saved_card_id, stored.days_before_due, stored.max_amount, stored.max_currency) == (
        card.id, 3, 100_050, "EUR")
    assert stored.status == AutopayStatus.ACTIVE
    after = visible_text(client.get("/autopay"))
    assert "Autopay is on: your invoices will be charged to Visa •••• 4242." in after
    assert "Autopay is on" in after and "3 days before each invoice's due date" in after
    assert "€1,000.50" in after and payer.email in after


def test_the_review_says_what_accepting_charges_at_once_and_what_it_leaves_out(app, db, make, company, payer,
                                                                              signed_in):
    today = clock.today()
    late = make.invoice(company, total=300_00, number="INV-LATE", due_date=today - timedelta(days=5))
    make.invoice(company, total=20_00, number="INV-LATER", issue_date=today - timedelta(days=70),
                 due_date=today - timedelta(days=40))
    make.invoice(company, total=40_00, number="INV-TODAY", due_date=today)
    make.invoice(company, total=90_00, number="INV-NEXT", due_date=today + timedelta(days=12))
    card = save_card(app, make, company, payer)
    client = signed_in(payer)

    shown = review(client, card)

    charged_first = page(shown).find(**{"data-autopay-charged-first": "1"})
    left_out = page(shown).find(**{"data-autopay-left-out": "2"})
    assert charged_first.text == (
        "Accepting charges 1 invoice within minutes, as its charge date has come: €40.00. INV-TODAY")
    assert (f"Not included: 2 invoices already past due before {today:%B} {today.day}, {today.year} (€320.00). "
            "Autopay never charges them") in left_out.text
    assert "an invoice already past due before that day is not charged under it" in accept_form(shown)["mandate"]

    client.post("/autopay/enrolment", data=accept_form(shown))
    after = client.get("/autopay")

    assert plans(after) == {"INV-TODAY": "charge", "INV-NEXT": "charge"}
    assert page(after).find_all(**{"data-autopay-left-out": "2"})
    detail = page(client.get(f"/invoices/{late.id}"))
    assert detail.find("dd", **{"data-autopay-plan": "not_covered"}).text.startswith(
        "Not charged: it was already past due when autopay started.")


def test_the_review_says_when_accepting_charges_nothing_today(app, make, company, payer, signed_in):
    make.invoice(company, total=90_00, number="INV-NEXT", due_date=clock.today() + timedelta(days=12))
    card = save_card(app, make, company, payer)

    shown = review(signed_in(payer), card)

    assert page(shown).find(**{"data-autopay-charged-first": "0"}).text == (
        "Accepting charges nothing today: each invoice is charged on its charge date, after the e-mail notice.")
    assert "Not included" not in visible_text(shown)


def test_the_mandate_posted_with_a_browsers_line_breaks_is_the_one_shown(app, db, make, company, payer, signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    form = accept_form(review(client, card, maximum="250"))
    assert "\n" in form["mandate"]

    response = client.post("/autopay/enrolment", data={**form, "mandate": form["mandate"].replace("\n", "\r\n")})

    assert response.status_code == 303
    [stored] = enrolments(db, company)
    assert stored.mandate_text == form["mandate"]


@pytest.mark.parametrize("tampered", [
    pytest.param(lambda text: text.replace("€250.00", "€25,000.00"), id="another-maximum"),
    pytest.param(lambda text: text + " Extra terms.", id="added-text"),
    pytest.param(lambda text: "I authorise nothing.", id="other-text"),
])
def test_a_tampered_mandate_is_refused_clearly_and_nothing_is_stored(app, db, make, company, payer, signed_in,
                                                                      tampered):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    form = accept_form(review(client, card, maximum="250"))

    response = client.post("/autopay/enrolment", data={**form, "mandate": tampered(form["mandate"])})

    assert response.status_code == 409
    assert "The terms have changed since the page was shown. Read them again and accept." in visible_text(response)
    # The page shows the real terms again, to read and accept.
    assert accept_form(response)["mandate"] == form["mandate"]
    assert "checked" not in page(response).find("input", name="accept").attrs
    assert enrolments(db, company) == []


def test_accepting_needs_the_box_ticked(app, db, make, company, payer, signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    form = accept_form(review(client, card))

    response = client.post("/autopay/enrolment", data={**form, "accept": ""})

    assert response.status_code == 400
    assert "Tick the box to accept the authorisation." in visible_text(response)
    assert accept_form(response)["mandate"] == form["mandate"]
    assert enrolments(db, company) == []


@pytest.mark.parametrize(("maximum", "message"), [
    ("lots", "Enter an amount such as 1234.56."),
    ("0", "Enter an amount greater than zero."),
    ("-5", "Enter an amount such as 1234.56."),
])
def test_a_maximum_that_is_no_amount_is_refused_beside_the_field(app, db, make, company, payer, signed_in, maximum,
                                                                 message):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)

    response = choose(client, card, maximum=maximum)

    assert response.status_code == 400
    assert message in page(response).find("label", class_="has-error").text
    assert enrolments(db, company) == []


def test_a_maximum_is_read_in_the_pages_language(app, db, make, company, payer, signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer, "fr")

    chosen = choose(client, card, maximum="1 234,56")

    assert parse_qs(urlsplit(chosen.headers["Location"]).query)["max_amount"] == ["123456"]


def test_terms_out_of_range_are_refused_at_review_and_at_acceptance(app, db, make, company, payer, signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    form = accept_form(review(client, card))

    shown = client.get(f"/autopay/review?card={card.id}&days_before_due=45")
    accepted = client.post("/autopay/enrolment", data={**form, "days_before_due": "45"})
    negative = client.post("/autopay/enrolment", data={**form, "max_amount": "-100"})

    assert shown.status_code == accepted.status_code == negative.status_code == 400
    assert "Choose between 0 and 30 days before the due date." in visible_text(shown)
    assert "Choose between 0 and 30 days before the due date." in visible_text(accepted)
    assert "The maximum must be greater than zero." in visible_text(negative)
    assert enrolments(db, company) == []


def test_another_companys_card_cannot_be_chosen(app, db, make, company, payer, signed_in):
    own = save_card(app, make, company, payer)
    other_company = make.company(name="Bravo Secret Holdings")
    theirs = save_card(app, make, other_company, make.user(other_company), "5555555555554444")
    client = signed_in(payer)
    form = accept_form(review(client, own))

    chosen = choose(client, theirs)
    shown = client.get(f"/autopay/review?card={theirs.id}&days_before_due=0")
    accepted = client.post("/autopay/enrolment", data={**form, "card": theirs.id})

    assert chosen.status_code == 400 and shown.status_code == accepted.status_code == 409
    for response in (chosen, shown, accepted):
        assert "Choose one of your saved cards" in visible_text(response)
        assert "4444" not in visible_text(response) and "Bravo" not in visible_text(response)
    assert enrolments(db, company) == [] and enrolments(db, other_company) == []


def test_a_card_saved_from_the_autopay_page_comes_back_chosen(app, make, company, payer, signed_in):
    save_card(app, make, company, payer)
    second = save_card(app, make, company, payer, "5555555555554444")
    client = signed_in(payer)

    response = client.get(f"/autopay?card={second.id}")

    radios = page(response).find_all("input", type="radio", name="card")
    assert [radio.attrs["value"] for radio in radios if "checked" in radio.attrs] == [str(second.id)]


def test_enrolling_again_replaces_the_enrolment_and_the_page_says_so(app, db, make, company, payer, signed_in):
    first_card = save_card(app, make, company, payer)
    second_card = save_card(app, make, company, payer, "5555555555554444")
    client = signed_in(payer)
    enrolled(client, first_card)

    page_while_on = visible_text(client.get("/autopay"))
    shown = review(client, second_card, days=5)
    enrolled(client, second_card, days=5)

    assert "Change the card or the terms" in page_while_on
    assert "replaces the current autopay authorisation" in page_while_on
    assert "Accepting it replaces the current authorisation (card Visa •••• 4242)" in visible_text(shown)
    old, new = enrolments(db, company)
    assert (old.status, new.status) == (AutopayStatus.CANCELLED, AutopayStatus.ACTIVE)
    assert (new.saved_card_id, new.days_before_due) == (second_card.id, 5)


# --- Stopping --------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_stopping_asks_first(app, make, company, payer, signed_in, headers):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    enrolled(client, card)

    response = client.get("/autopay/cancel", headers=headers)

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert ("<html" in body) is (not headers)
    assert "Stop autopay now?" in visible_text(response)
    assert page(response).find("form", action="/autopay/cancel").find("button").text == "Yes, stop autopay"


def test_a_back_button_restore_of_the_confirmation_gets_the_whole_page(app, make, company, payer, signed_in):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    enrolled(client, card)

    response = client.get("/autopay/cancel", headers={**HTMX, "HX-History-Restore-Request": "true"})

    assert "<html" in response.get_data(as_text=True)


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_stopping_takes_effect_at_once(app, db, make, company, payer, signed_in, headers):
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    enrolled(client, card)

    response = client.post("/autopay/cancel", headers=headers)

    if headers:
        assert response.headers["HX-Redirect"] == "/autopay"
    else:
        assert response.status_code == 303 and response.headers["Location"] == "/autopay"
    [stopped] = enrolments(db, company)
    assert stopped.status == AutopayStatus.CANCELLED and stopped.ended_by_user_id == payer.id
    after = visible_text(client.get("/autopay"))
    assert "Autopay is off. No invoice will be charged automatically from now on." in after
    assert "Autopay was stopped on" in after


# --- The next charges, and approving one above the maximum ---------------------------------


@pytest.fixture
def on_autopay(app, make, company, payer, signed_in):
    """The payer signed in, the company on autopay with a €100.00 maximum, and three open invoices."""
    today = clock.today()
    small = make.invoice(company, total=80_00, number="INV-SMALL", due_date=today + timedelta(days=12))
    large = make.invoice(company, total=500_00, number="INV-LARGE", due_date=today + timedelta(days=20))
    dollars = make.invoice(company, total=50_00, number="INV-USD", currency="USD", due_date=today + timedelta(days=25))
    card = save_card(app, make, company, payer)
    client = signed_in(payer)
    enrolled(client, card, days=2, maximum="100")
    return client, small, large, dollars


def plans(response) -> dict[str, str]:
    table = page(response).find("table", class_="upcoming-charges")
    return {row.find("td", class_="number").text: row.attrs["data-plan"] for row in table.find("tbody").find_all("tr")}


def test_the_page_lists_the_next_charges_with_date_amount_and_why_not(on_autopay):
    client, small, large, dollars = on_autopay

    response = client.get("/autopay")

    assert plans(response) == {"INV-SMALL": "charge", "INV-LARGE": "above_maximum", "INV-USD": "above_maximum"}
    rows = {row.find("td", class_="number").text: row.text
            for row in page(response).find("table", class_="upcoming-charges").find("tbody").find_all("tr")}
    charge_day = small.due_date - timedelta(days=2)
    assert f"{charge_day:%b} {charge_day.day}, {charge_day.year}" in rows["INV-SMALL"]
    assert "€80.00" in rows["INV-SMALL"] and "Will be charged" in rows["INV-SMALL"]
    assert "€500.00" in rows["INV-LARGE"] and "Not charged: above your maximum." in rows["INV-LARGE"]
    assert "$50.00" in rows["INV-USD"]
    assert "Not charged: the invoice is in another currency than your maximum." in rows["INV-USD"]


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_approving_an_invoice_above_the_maximum_lets_autopay_charge_it(db, on_autopay, headers):
    client, small, large, dollars = on_autopay

    response = client.post(f"/autopay/invoices/{large.id}/approve", headers=headers)

    if headers:
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        assert "<html" not in body and 'id="upcoming"' in body
        shown = response
    else:
        assert response.status_code == 303 and response.headers["Location"] == "/autopay#upcoming"
        shown = client.get("/autopay")
    assert f"Invoice {large.number} approved: autopay will charge it." in visible_text(shown)
    assert plans(shown)["INV-LARGE"] == "charge"
    approval = db.get(AutopayApproval, large.id)
    assert (approval.amount, approval.currency) == (500_00, "EUR")


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_approving_an_invoice_with_nothing_due_is_refused_in_words(db, make, on_autopay, headers):
    client, small, large, dollars = on_autopay
    make.payment(large, large.amount_total)

    response = client.post(f"/autopay/invoices/{large.id}/approve", headers=headers)

    assert response.status_code == (422 if headers else 409)
    assert "Nothing can be charged on this invoice now." in visible_text(response)
    assert db.get(AutopayApproval, large.id) is None


def test_a_disputed_invoice_is_listed_as_not_charged(app, make, on_autopay, payer):
    client, small, large, dollars = on_autopay
    from portal.blueprints.app_services import services

    with app.app_context():
        make.dispute(services().disputes, small, payer)

    response = client.get("/autopay")

    assert plans(response)["INV-SMALL"] == "disputed"
    assert "Not charged while the invoice is disputed." in visible_text(response)


def test_a_paused_enrolment_says_why_and_lists_nothing_to_charge(db, make, company, on_autopay):
    client, *_ = on_autopay
    [live] = enrolments(db, company)
    live.status, live.paused_reason = AutopayStatus.PAUSED, "expired_card"
    db.flush()

    text = visible_text(client.get("/autopay"))

    assert "Autopay is paused" in text
    assert "The card Visa •••• 4242 has expired." in text
    assert "No invoice is charged until an admin or payer chooses another card below." in text
    assert "Next charges" not in text


# --- Who may do what -------------------------------------------------------------------------


@pytest.fixture
def viewer_of_enrolled_company(on_autopay, make, company, client, signed_in):
    client.post("/logout")
    return signed_in(make.user(company, role=Role.VIEWER))


def test_a_viewer_sees_the_state_but_no_way_to_change_it(viewer_of_enrolled_company):
    response = viewer_of_enrolled_company.get("/autopay")

    text = visible_text(response)
    assert response.status_code == 200
    assert "Autopay is on" in text and "Next charges" in text
    assert "Only your company's admins and payers can turn autopay on, change it or stop it." in text
    body = response.get_data(as_text=True)
    for action in ("/autopay/terms", "/autopay/cancel", "/approve"):
        assert action not in body


def test_a_viewer_cannot_enrol_stop_or_approve(db, company, on_autopay, viewer_of_enrolled_company):
    client, small, large, dollars = on_autopay
    [live] = enrolments(db, company)
    viewer = viewer_of_enrolled_company

    requests = [("GET", f"/autopay/review?card={live.saved_card_id}&days_before_due=0"),
                ("POST", "/autopay/terms"), ("POST", "/autopay/enrolment"), ("GET", "/autopay/cancel"),
                ("POST", "/autopay/cancel"), ("POST", f"/autopay/invoices/{large.id}/approve")]
    for method, url in requests:
        for headers in ({}, HTMX):
            response = viewer.open(url, method=method, headers=headers, data={
                "card": live.saved_card_id, "days_before_due": 0, "mandate": live.mandate_text, "accept": "y"})
            assert response.status_code == 403, f"{method} {url}"

    assert [(e.id, e.status) for e in enrolments(db, company)] == [(live.id, AutopayStatus.ACTIVE)]
    assert db.get(AutopayApproval, large.id) is None


def test_another_companys_clerk_neither_sees_nor_touches_this_autopay(db, make, company, on_autopay, client,
                                                                       signed_in):
    _, small, large, dollars = on_autopay
    [live] = enrolments(db, company)
    client.post("/logout")
    other_company = make.company(name="Bravo Secret Holdings", locale="en")
    other = signed_in(make.user(other_company, role=Role.ADMIN))

    shown = other.get("/autopay")
    approved = other.post(f"/autopay/invoices/{large.id}/approve")
    stopped = other.post("/autopay/cancel")

    assert "Autopay is off" in visible_text(shown)
    for secret in ("Alpha Widgets", "INV-SMALL", "INV-LARGE", "4242", "€100.00"):
        assert secret not in shown.get_data(as_text=True)
    assert approved.status_code == 404 and "We could not find that page." in visible_text(approved)
    assert stopped.status_code == 303
    assert db.get(AutopayApproval, large.id) is None
    assert [(e.id, e.status) for e in enrolments(db, company)] == [(live.id, AutopayStatus.ACTIVE)]


def test_staff_are_sent_to_their_own_autopay_page(make, client, login_as):
    staff_client = login_as(make.staff(locale="en"))

    response = staff_client.get("/autopay")

    assert response.status_code == 302 and response.headers["Location"] == "/collections/"


# --- Both languages --------------------------------------------------------------------------


def test_the_page_and_the_mandate_in_french(app, db, make, payer, signed_in):
    company = make.company(name="Boulangeries Martin SAS", currency="EUR", locale="fr")
    payer = make.user(company)
    card = save_card(app, make, company, payer)
    make.invoice(company, total=123_456, number="FR-1", due_date=date.today() + timedelta(days=12))
    client = signed_in(payer, "fr")

    off = visible_text(client.get("/autopay"))
    shown = review(client, card, days=2, maximum="2 000,00")
    client.post("/autopay/enrolment", data=accept_form(shown))
    on = client.get("/autopay")

    assert "Le prélèvement automatique est désactivé" in off and "Autopay" not in off
    terms = EnrolmentTerms(card_id=card.id, days_before_due=2, max_amount=200_000)
    mandate = expected_mandate(db, app, company, terms, locale="fr")
    assert mandate.startswith("J’autorise")
    assert accept_form(shown)["mandate"] == mandate
    [stored] = enrolments(db, company)
    assert stored.mandate_text == mandate
    text = visible_text(on)
    assert "Le prélèvement automatique est activé" in text
    assert "1\u202f234,56\u00a0€" in on.get_data(as_text=True)
    for english in ("Autopay is", "Next charges", "Will be charged", "Maximum per invoice", "Card"):
        assert english not in text
