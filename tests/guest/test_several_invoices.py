"""Paying several invoices from the one link a reminder carries: what is shown is what is charged."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.blueprints.app_services import services
from portal.guest.links import MAX_INVOICES_PER_LINK, revoke_pay_links
from portal.models import Payment, PaymentChannel, PaymentStatus
from portal.models.types import utcnow
from portal.payments import fake_gateway
from tests.builders import Builders
from tests.guest.conftest import attempt_key_on, setup_id_on


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def company(make):
    return make.company(locale="en", billing_emails=["ap@several.test"])


def shown_on(page: str) -> str:
    return re.search(r'name="shown" type="hidden" value="([^"]+)"', page).group(1)


def pay(client, gateway, token, *, page=None, number=fake_gateway.SUCCEEDS, email="payer@several.test"):
    page = page or client.get(f"/pay/invoices/{token}?lang=en").get_data(as_text=True)
    setup_id = setup_id_on(page)
    gateway.complete_setup(setup_id, number)
    return client.post(f"/pay/invoices/{token}", data={
        "setup_id": setup_id, "attempt_key": attempt_key_on(page), "shown": shown_on(page), "email": email})


def test_one_payment_settles_every_invoice_of_the_link_for_the_amount_shown(
        app, db, client, make, company, gateway, pay_links, smtp_server):
    clerk = make.user(company)
    first = make.invoice(company, number="INV-SEV-1", total=100_00)
    second = make.invoice(company, number="INV-SEV-2", total=250_00)
    with app.app_context():
        make.dispute(services().disputes, second, clerk, amount=50_00)
    db.commit()
    token = pay_links.link_for_invoices([first, second]).token

    page = client.get(f"/pay/invoices/{token}?lang=en").get_data(as_text=True)
    assert "Pay €300.00 for" in page and "€50.00 under dispute, not charged" in page
    response = pay(client, gateway, token, page=page)

    assert response.status_code == 303
    receipt = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "Payment received — thank you" in receipt and "€300.00" in receipt
    payment = db.scalar(select(Payment).where(Payment.channel == PaymentChannel.GUEST))
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, 300_00)
    assert sorted((a.invoice.number, a.amount) for a in payment.allocations) == [
        ("INV-SEV-1", 100_00), ("INV-SEV-2", 200_00)]
    assert [charge.amount for charge in gateway.charges.values()] == [300_00]
    again = client.get(f"/pay/invoices/{token}?lang=en").get_data(as_text=True)
    assert "Nothing left to pay" in again


def test_what_changed_since_the_page_was_shown_is_not_charged(db, client, make, company, gateway, pay_links):
    first = make.invoice(company, number="INV-SEV-3", total=100_00)
    second = make.invoice(company, number="INV-SEV-4", total=80_00)
    db.commit()
    token = pay_links.link_for_invoices([first, second]).token
    page = client.get(f"/pay/invoices/{token}?lang=en").get_data(as_text=True)
    make.payment(second, 30_00)  # a bank transfer arrives while the page is open
    db.commit()

    refused = pay(client, gateway, token, page=page)

    assert refused.status_code == 409
    body = refused.get_data(as_text=True)
    assert "What is due on these invoices has just changed" in body and "Pay €150.00" in body
    assert not [c for c in gateway.charges.values() if c.status == fake_gateway.ChargeStatus.SUCCEEDED]
    assert pay(client, gateway, token, page=body).status_code == 303
    assert db.scalar(select(Payment.amount).where(Payment.channel == PaymentChannel.GUEST,
                                                  Payment.status == PaymentStatus.SUCCEEDED)) == 150_00


def test_a_tampered_list_of_amounts_charges_nothing(db, client, make, company, gateway, pay_links):
    first = make.invoice(company, total=100_00)
    stranger = make.invoice(make.company(), total=5_00)
    db.commit()
    token = pay_links.link_for_invoices([first]).token
    page = client.get(f"/pay/invoices/{token}?lang=en").get_data(as_text=True)
    setup_id = setup_id_on(page)
    gateway.complete_setup(setup_id, fake_gateway.SUCCEEDS)

    for shown in (f"{first.id}:1", f"{stranger.id}:500", f"{first.id}:10000,{stranger.id}:500"):
        response = client.post(f"/pay/invoices/{token}", data={
            "setup_id": setup_id, "attempt_key": attempt_key_on(page), "shown": shown, "email": "x@y.test"})
        assert response.status_code == 409, shown
    assert db.scalar(select(Payment.id)) is None


def test_revoking_any_invoice_of_the_link_and_expiry_stop_it(app, db, client, make, company, pay_links):
    first, second = make.invoice(company, total=10_00), make.invoice(company, total=20_00)
    db.commit()
    token = pay_links.link_for_invoices([first, second]).token
    expired = pay_links.link_for_invoices([first], now=utcnow() - timedelta(days=31)).token

    revoke_pay_links(db, Builders.ACTOR, second)
    db.commit()

    assert "This payment link no longer works" in client.get(f"/pay/invoices/{token}?lang=en").get_data(as_text=True)
    assert "This payment link has expired" in client.get(f"/pay/invoices/{expired}?lang=en").get_data(as_text=True)
    single = pay_links.link_for(first).token
    assert client.get(f"/pay/invoices/{single}?lang=en").status_code == 404


def test_a_link_names_invoices_of_one_company_and_a_bounded_number(make, company, pay_links):
    mine, theirs = make.invoice(company), make.invoice(make.company())
    for invoices in ([], [mine, theirs], [mine] * (MAX_INVOICES_PER_LINK + 1)):
        with pytest.raises(ValueError):
            pay_links.link_for_invoices(invoices)
