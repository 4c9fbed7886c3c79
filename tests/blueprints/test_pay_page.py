"""The "Pay invoices" page through HTTP, on the in-memory gateway: amounts are read and shown in
the invoices' currency and the page's language, and the card charged is the card the Pay
button names.

tests/browser/test_payments_browser.py proves the card choice again in Chromium, on localstripe.
"""

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from portal.models import Payment, PaymentStatus, Role, SavedCard
from portal.payments import fake_gateway
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, visible_text

MASTERCARD = "5555555555554444"


@pytest.fixture
def gateway(app):
    return services_of(app).payments.gateway


@pytest.fixture
def company(make):
    """A euro company: what it owes in other currencies must not be read or shown in euros."""
    return make.company(currency="EUR", locale="en")


@pytest.fixture
def payer(client, make, company):
    user = make.user(company, role=Role.PAYER)
    response = client.post("/login", data={"email": user.email, "password": make.PASSWORD})
    assert response.status_code == 303
    set_language(client, "en")
    return user


def save_card(client, gateway, number: str = fake_gateway.SUCCEEDS, *, next_url: str | None = None):
    """What the card page and Stripe.js do; returns the answer to the form's POST."""
    query = {"next": next_url} if next_url else {}
    shown = client.get("/payments/cards/new", query_string=query).get_data(as_text=True)
    setup_id = re.search(r'name="setup_id" type="hidden" value="([^"]+)"', shown).group(1)
    gateway.complete_setup(setup_id, number)
    return client.post("/payments/cards", query_string=query, data={"setup_id": setup_id})


def pay_url(*invoices, **extra) -> str:
    query = "&".join([*(f"invoice={invoice.id}" for invoice in invoices), *(f"{k}={v}" for k, v in extra.items())])
    return f"/payments/new?{query}"


def posted_form(response) -> dict:
    """What the page's pay form posts as it stands (hidden fields, the ticked card, an empty amount)."""
    form = page(response).find("form", **{"data-pay-form": ""})
    fields = {}
    for element in form.find_all("input"):
        kind = element.attrs.get("type", "text")
        if kind == "radio" and "checked" not in element.attrs:
            continue
        fields[element.attrs["name"]] = element.attrs.get("value", "")
    return fields


def link_back(link) -> str:
    """Where the card page, opened from `link`, sends the payer once the card is saved."""
    return parse_qs(urlsplit(link.attrs["href"]).query)["next"][0]


def payments_of(db, company) -> list[Payment]:
    db.expire_all()
    return db.scalars(select(Payment).where(Payment.company_id == company.id).order_by(Payment.id)).all()


def pay_button(response) -> str:
    return page(response).find("button", **{"data-pay": ""}).text


# --- Amounts in the invoices' currency ------------------------------------------------------


def test_a_yen_invoice_of_a_euro_company_is_shown_and_offered_in_yen(client, gateway, make, company, payer):
    save_card(client, gateway)
    invoice = make.invoice(company, total=5_000, currency="JPY")

    shown = client.get(pay_url(invoice))

    assert shown.status_code == 200
    assert page(shown).find("td", **{"data-total": ""}).text == "¥5,000"
    amount = page(shown).find("input", name="amount")
    assert amount.attrs["placeholder"] == "5,000"
    assert page(shown).find("span", class_="unit").text == "¥"
    assert "€" not in visible_text(shown)


def test_a_part_of_a_yen_invoice_typed_as_500_charges_500_yen(db, client, gateway, make, company, payer):
    save_card(client, gateway)
    invoice = make.invoice(company, total=5_000, currency="JPY")
    form = posted_form(client.get(pay_url(invoice)))

    response = client.post("/payments", data={**form, "amount": "500"})

    assert response.status_code == 303, visible_text(response)
    [payment] = payments_of(db, company)
    assert (payment.status, payment.amount, payment.currency) == (PaymentStatus.SUCCEEDED, 500, "JPY")
    assert [(charge.amount, charge.currency) for charge in gateway.charges.values()] == [(500, "JPY")]
    db.refresh(invoice)
    assert invoice.amount_due == 4_500


def test_several_yen_invoices_show_their_total_in_yen_on_the_button(client, gateway, make, company, payer):
    save_card(client, gateway)
    invoices = [make.invoice(company, total=total, currency="JPY") for total in (1_200, 34_000)]

    shown = client.get(pay_url(*invoices))

    assert page(shown).find("td", **{"data-total": ""}).text == "¥35,200"
    assert pay_button(shown) == "Pay ¥35,200 with Visa •••• 4242"


def test_invoices_in_two_currencies_are_not_offered_together(db, client, gateway, make, company, payer):
    save_card(client, gateway)
    invoices = [make.invoice(company, total=10_00), make.invoice(company, total=1_000, currency="JPY")]

    shown = client.get(pay_url(*invoices))
    posted = client.post("/payments", data={
        "invoice-0": invoices[0].id, "invoice-1": invoices[1].id, "attempt_key": uuid.uuid4().hex})

    assert "These invoices are in different currencies: pay the invoices of each currency separately." in (
        visible_text(shown))
    assert not page(shown).find_all("button", **{"data-pay": ""})
    assert not page(shown).find_all("td", **{"data-total": ""})
    assert posted.status_code == 409
    assert payments_of(db, company) == [] and gateway.charges == {}


def test_a_french_payer_types_1_234_56_euros(db, client, gateway, make, company, payer):
    save_card(client, gateway)
    set_language(client, "fr")
    invoice = make.invoice(company, total=2_000_00)
    shown = client.get(pay_url(invoice))
    assert page(shown).find("input", name="amount").attrs["placeholder"] == "2\u202f000,00"

    response = client.post("/payments", data={**posted_form(shown), "amount": "1 234,56"})

    assert response.status_code == 303, visible_text(response)
    [payment] = payments_of(db, company)
    assert (payment.amount, payment.currency) == (1_234_56, "EUR")


@pytest.mark.parametrize(("language", "currency", "typed", "message"), [
    # In French the comma is the decimal separator: "1,234" is not read as a thousand euros.
    ("fr", "EUR", "1,234", "Saisissez un montant, par exemple 1234,56."),
    ("en", "EUR", "1.234", "Enter an amount such as 1234.56."),
    ("en", "JPY", "12.5", "Enter an amount such as 1234."),
    ("fr", "JPY", "abc", "Saisissez un montant, par exemple 1234."),
    ("fr", "EUR", "0", "Saisissez un montant supérieur à zéro."),
    ("en", "JPY", "5,001", "That is more than the ¥5,000 that can be paid now."),
    # (The page's text, spaces collapsed: French groups thousands with a narrow no-break space.)
    ("fr", "EUR", "5000,01", "C'est plus que les 5 000,00 € qui peuvent être payés maintenant."),
])
def test_a_bad_amount_is_refused_beside_the_field_in_the_pages_language(db, client, gateway, make, company, payer,
                                                                        language, currency, typed, message):
    save_card(client, gateway)
    set_language(client, language)
    invoice = make.invoice(company, total=5_000 if currency == "JPY" else 5_000_00, currency=currency)

    response = client.post("/payments", data={**posted_form(client.get(pay_url(invoice))), "amount": typed})

    assert response.status_code == 400
    field = page(response).find("label", class_="has-error")
    assert field.find("input").attrs["name"] == "amount"
    assert field.find("small", class_="error").text == message
    assert payments_of(db, company) == [] and gateway.charges == {}


# --- The card charged is the card named -------------------------------------------------------


def test_the_pay_button_names_the_default_card(client, gateway, make, company, payer):
    save_card(client, gateway)
    save_card(client, gateway, MASTERCARD)
    invoices = [make.invoice(company, total=total) for total in (1_234_56, 10_00)]

    shown = client.get(pay_url(*invoices))

    assert pay_button(shown) == "Pay €1,244.56 with Visa •••• 4242"
    [ticked] = [radio for radio in page(shown).find_all("input", name="card") if "checked" in radio.attrs]
    assert ticked.attrs["data-pay-label"] == "Pay €1,244.56 with Visa •••• 4242"
    assert posted_form(shown)["named_card"] == ticked.attrs["value"]


def test_a_card_saved_from_the_pay_page_comes_back_chosen_and_is_the_one_charged(db, client, gateway, make, company,
                                                                                 payer):
    save_card(client, gateway)
    invoice = make.invoice(company, total=300_00)
    shown = client.get(pay_url(invoice))
    another_card = next(a for a in page(shown).find_all("a") if a.text == "Use another card")
    assert link_back(another_card) == pay_url(invoice)

    saved = save_card(client, gateway, MASTERCARD, next_url=pay_url(invoice))

    new_card = db.scalar(select(SavedCard).where(SavedCard.company_id == company.id, SavedCard.last4 == "4444"))
    assert saved.status_code == 303
    assert saved.headers["Location"] == pay_url(invoice, card=new_card.id)
    back = client.get(saved.headers["Location"])
    assert "Card Visa •••• 4444 saved." in visible_text(back)
    assert pay_button(back) == "Pay with Visa •••• 4444"
    form = posted_form(back)
    assert form["card"] == form["named_card"] == str(new_card.id)

    assert client.post("/payments", data=form).status_code == 303
    [payment] = payments_of(db, company)
    assert (payment.saved_card_id, payment.method_summary) == (new_card.id, "Visa •••• 4444")


def test_another_companys_card_in_the_query_is_not_offered(db, client, gateway, make, company, payer):
    save_card(client, gateway)
    stranger = make.company()
    strangers_card = SavedCard(company_id=stranger.id, provider_id="pm_stranger", brand="visa", last4="9999",
                               exp_month=1, exp_year=2031, is_default=True)
    db.add(strangers_card)
    db.flush()
    invoice = make.invoice(company, total=50_00)

    shown = client.get(pay_url(invoice, card=strangers_card.id))

    assert pay_button(shown) == "Pay with Visa •••• 4242"
    assert "9999" not in visible_text(shown)


def test_a_card_ticked_without_the_button_naming_it_is_not_charged(db, client, gateway, make, company, payer):
    """Without JavaScript, ticking another card leaves the button naming the first: nothing is charged."""
    save_card(client, gateway)
    save_card(client, gateway, MASTERCARD)
    cards = {card.last4: card.id for card in db.scalars(select(SavedCard).where(SavedCard.company_id == company.id))}
    invoice = make.invoice(company, total=80_00)
    form = posted_form(client.get(pay_url(invoice)))
    assert form["named_card"] == str(cards["4242"])

    refused = client.post("/payments", data={**form, "card": cards["4444"]})

    assert refused.status_code == 400
    assert payments_of(db, company) == [] and gateway.charges == {}
    assert "nothing was charged" in page(refused).find("fieldset", class_="cards").text
    assert pay_button(refused) == "Pay with Visa •••• 4444"
    again = posted_form(refused)
    assert again["card"] == again["named_card"] == str(cards["4444"])
    assert client.post("/payments", data=again).status_code == 303
    [payment] = payments_of(db, company)
    assert payment.saved_card_id == cards["4444"]


def test_after_a_declined_card_another_card_brings_the_payer_back_to_these_invoices(client, gateway, make, company,
                                                                                    payer):
    save_card(client, gateway, fake_gateway.DECLINED_ON_CHARGE)
    invoices = [make.invoice(company, total=total) for total in (10_00, 20_00)]
    declined = client.post("/payments", data=posted_form(client.get(pay_url(*invoices))))
    assert declined.status_code == 402

    link = next(a for a in page(declined).find_all("a") if a.text == "Use another card")

    assert link_back(link) == pay_url(*invoices)


def test_the_other_language_is_the_same_pay_page(client, gateway, make, company, payer):
    save_card(client, gateway)
    set_language(client, "fr")
    invoices = [make.invoice(company, total=total) for total in (10_00, 20_00)]

    english = next(a for a in page(client.get(pay_url(*invoices))).find_all("a") if a.text == "English")
    shown = client.get(english.attrs["href"])

    assert english.attrs["href"] == pay_url(*invoices, lang="en")
    assert pay_button(shown) == "Pay €30.00 with Visa •••• 4242"
