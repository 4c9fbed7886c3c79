"""The guest page while the card processor cannot be reached: the invoice, its PDF and a clear
word that card payment is unavailable for now (200), never a 500; nothing is charged."""

import pytest

from portal.models import Payment
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY
from tests.payments.conftest import WEBHOOK_SECRET, closed_port


@pytest.fixture
def app_overrides():
    return {"ACQUIT_PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ACQUIT_STRIPE_API_BASE": f"http://127.0.0.1:{closed_port()}", "ACQUIT_STRIPE_TIMEOUT": 2}


def test_the_guest_page_shows_the_invoice_and_says_card_payment_is_unavailable(client, make, pay_links):
    invoice = make.invoice(make.company(locale="en"), number="INV-DOWN-1", total=120_00)
    token = pay_links.link_for(invoice).token

    page = client.get(f"/pay/{token}?lang=en")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "INV-DOWN-1" in html
    assert "Card payment is unavailable for a moment" in html
    assert "data-card-setup" not in html
    assert client.get(f"/pay/{token}/pdf").status_code == 200


def test_paying_while_the_processor_is_down_is_refused_cleanly_and_charges_nothing(client, db, make, pay_links):
    invoice = make.invoice(make.company(locale="en"), total=120_00)
    token = pay_links.link_for(invoice).token

    response = client.post(f"/pay/{token}?lang=en", data={"setup_id": "seti_unknown", "attempt_key": "a" * 32,
                                                          "email": "payer@guest.test"})

    html = response.get_data(as_text=True)
    assert response.status_code == 503
    # Only the card form was asked about, never a charge: the page says nothing was charged, and to try again.
    assert "Nothing was charged: please try again in a few minutes" in html
    assert "data-card-setup" not in html
    assert db.query(Payment).filter(Payment.status == "succeeded").count() == 0
