"""A disputed amount is typed in the invoice's currency and the page's language."""

import pytest
from sqlalchemy import select

from portal.models import Dispute, Role
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page


@pytest.fixture
def company(make):
    """A euro company, billed here in other currencies too."""
    return make.company(currency="EUR", locale="en")


@pytest.fixture
def payer(client, make, company):
    user = make.user(company, role=Role.PAYER)
    assert client.post("/login", data={"email": user.email, "password": make.PASSWORD}).status_code == 303
    return user


def raise_dispute(client, invoice, amount: str, *, language: str):
    set_language(client, language)
    return client.post(f"/invoices/{invoice.id}/disputes/new", data={
        "reason": "wrong_price", "scope": "amount", "amount": amount, "message": "The price is not the agreed one."})


def disputed_amounts(db) -> list[int]:
    db.expire_all()
    return db.scalars(select(Dispute.disputed_amount)).all()


def test_the_dispute_form_of_a_yen_invoice_counts_in_yen(client, make, company, payer):
    invoice = make.invoice(company, total=5_000, currency="JPY")
    set_language(client, "en")

    shown = page(client.get(f"/invoices/{invoice.id}/disputes/new"))

    assert shown.find("span", class_="unit").text == "¥"
    assert "Amount due: ¥5,000." in shown.text


def test_disputing_500_of_a_yen_invoice_holds_back_500_yen(db, client, make, company, payer):
    invoice = make.invoice(company, total=5_000, currency="JPY")

    response = raise_dispute(client, invoice, "500", language="en")

    assert response.status_code == 303
    assert disputed_amounts(db) == [500]


def test_a_french_payer_disputes_1_234_56_euros(db, client, make, company, payer):
    invoice = make.invoice(company, total=2_000_00)

    assert raise_dispute(client, invoice, "1 234,56", language="fr").status_code == 303
    assert disputed_amounts(db) == [1_234_56]


@pytest.mark.parametrize(("language", "currency", "typed", "message"), [
    ("fr", "EUR", "1,234", "Saisissez un montant, par exemple 1234,56."),
    ("en", "JPY", "12.5", "Enter an amount such as 1234."),
])
def test_a_bad_disputed_amount_is_refused_in_the_pages_language(db, client, make, company, payer, language, currency,
                                                                typed, message):
    invoice = make.invoice(company, total=5_000_00, currency=currency)

    response = raise_dispute(client, invoice, typed, language=language)

    assert response.status_code == 400
    assert page(response).find("label", class_="has-error").find("small", class_="error").text == message
    assert disputed_amounts(db) == []
