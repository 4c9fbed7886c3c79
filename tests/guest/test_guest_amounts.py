"""A guest's part payment is typed in the invoice's currency and the page's language."""

import pytest
from sqlalchemy import select

from portal.models import Payment, PaymentChannel
from portal.payments import fake_gateway
from tests.blueprints.pages import page
from tests.guest.conftest import attempt_key_on, setup_id_on


@pytest.fixture
def app_overrides():
    return {"ACQUIT_GUEST_PARTIAL_PAYMENTS": True}


@pytest.fixture
def company(make):
    """A euro company, billed here in other currencies too."""
    return make.company(currency="EUR", locale="en")


def guest_pays(client, gateway, token, *, language: str, **fields):
    shown = client.get(f"/pay/{token}?lang={language}").get_data(as_text=True)
    setup_id = setup_id_on(shown)
    gateway.complete_setup(setup_id, fake_gateway.SUCCEEDS)
    return client.post(f"/pay/{token}", data={"setup_id": setup_id, "attempt_key": attempt_key_on(shown),
                                              "email": "payer@guest.test", **fields})


def guest_payment(db) -> Payment:
    db.expire_all()
    return db.scalar(select(Payment).where(Payment.channel == PaymentChannel.GUEST))


def test_a_guest_paying_500_of_a_yen_invoice_pays_500_yen(db, client, gateway, pay_links, make, company):
    invoice = make.invoice(company, total=5_000, currency="JPY")
    token = pay_links.link_for(invoice).token
    shown = page(client.get(f"/pay/{token}?lang=en"))
    assert shown.find("input", name="amount").attrs["placeholder"] == "5,000"
    assert shown.find("span", class_="unit").text == "¥"
    assert shown.find("strong", **{"data-amount-due": ""}).text == "¥5,000"

    response = guest_pays(client, gateway, token, language="en", amount="500")

    assert response.status_code == 303
    payment = guest_payment(db)
    assert (payment.amount, payment.currency) == (500, "JPY")
    assert [(charge.amount, charge.currency) for charge in gateway.charges.values()] == [(500, "JPY")]
    db.refresh(invoice)
    assert invoice.amount_due == 4_500


def test_a_french_guest_types_1_234_56_euros(db, client, gateway, pay_links, make, company):
    invoice = make.invoice(company, total=2_000_00)

    response = guest_pays(client, gateway, pay_links.link_for(invoice).token, language="fr", amount="1 234,56")

    assert response.status_code == 303
    assert guest_payment(db).amount == 1_234_56


@pytest.mark.parametrize(("language", "currency", "typed", "message"), [
    ("fr", "EUR", "1,234", "Saisissez un montant, par exemple 1234,56."),
    ("en", "JPY", "12.5", "Enter an amount such as 1234."),
    ("en", "JPY", "6000", "That is more than the ¥5,000 that can be paid now."),
    ("fr", "JPY", "0", "Saisissez un montant supérieur à zéro."),
])
def test_a_guests_bad_amount_is_refused_in_the_pages_language(db, client, gateway, pay_links, make, company, language,
                                                              currency, typed, message):
    invoice = make.invoice(company, total=5_000 if currency == "JPY" else 5_000_00, currency=currency)

    response = guest_pays(client, gateway, pay_links.link_for(invoice).token, language=language, amount=typed)

    assert response.status_code == 400
    assert page(response).find("label", class_="has-error").find("small", class_="error").text == message
    assert guest_payment(db) is None and gateway.charges == {}
