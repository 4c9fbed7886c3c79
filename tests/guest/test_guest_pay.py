"""Paying from a PAY NOW link with no account: the two screens, the limits, the e-mails."""

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from portal.guest.service import GuestLimits
from portal.mail import outbox
from portal.models import AuditEvent, Payment, PaymentChannel, PaymentStatus
from portal.payments import fake_gateway
from portal.services import install_services, services_of
from tests.guest.conftest import attempt_key_on, setup_id_on


@pytest.fixture
def app_overrides(smtp_server):
    return {**smtp_server.app_config, "ACQUIT_GUEST_LIMITS": GuestLimits(attempts_per_link=6, declines_before_rest=3)}


@pytest.fixture
def invoice(make):
    company = make.company(locale="en", billing_emails=["ap@guest.test"])
    return make.invoice(company, number="INV-GUEST-9", total=45_600)


def pay(client, gateway, token, *, number=fake_gateway.SUCCEEDS, email="payer@guest.test", page=None, **extra):
    """What the browser does: open the link, let Stripe.js collect the card, submit the form."""
    page = page or client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    setup_id = setup_id_on(page)
    gateway.complete_setup(setup_id, number)
    return client.post(f"/pay/{token}", data={"setup_id": setup_id, "attempt_key": attempt_key_on(page),
                                              "email": email, **extra})


def test_a_guest_pays_the_whole_invoice_and_gets_a_receipt(db, client, gateway, pay_links, invoice, smtp_server):
    token = pay_links.link_for(invoice).token
    response = pay(client, gateway, token)
    assert response.status_code == 303
    receipt = client.get(response.headers["Location"] + "?lang=en").get_data(as_text=True)
    assert "Payment received — thank you" in receipt and "€456.00" in receipt
    db.refresh(invoice)
    assert invoice.amount_due == 0
    payment = db.scalar(select(Payment).where(Payment.channel == PaymentChannel.GUEST))
    assert (payment.status, payment.amount, payment.receipt_email) == (PaymentStatus.SUCCEEDED, 45_600, "payer@guest.test")
    [mail] = [m for m in smtp_server.messages if "payer@guest.test" in m.recipients]
    assert "456" in mail.message.get_body(("plain",)).get_content()
    again = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    assert "This invoice is paid" in again


def test_one_invoices_link_cannot_reach_another_invoices_payment(db, client, make, gateway, pay_links, invoice):
    other = make.invoice(invoice.company, number="INV-GUEST-10", total=10_000)
    other_payment = pay(client, gateway, pay_links.link_for(other).token).headers["Location"].rsplit("/", 1)[1]
    token = pay_links.link_for(invoice).token

    seen = client.get(f"/pay/{token}/payments/{other_payment}?lang=en")
    checked = client.post(f"/pay/{token}/payments/{other_payment}/check?lang=en", data={})

    for response in (seen, checked):
        assert response.status_code == 404
        assert "INV-GUEST-10" not in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Payment)) == 1


def test_resubmitting_the_same_page_charges_once(db, client, gateway, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    page = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    setup_id, attempt = setup_id_on(page), attempt_key_on(page)
    gateway.complete_setup(setup_id)
    form = {"setup_id": setup_id, "attempt_key": attempt, "email": "payer@guest.test"}
    first, second = client.post(f"/pay/{token}", data=form), client.post(f"/pay/{token}", data=form)
    assert first.status_code == 303
    # The second finds the invoice paid (by the first): it says so, and charges nothing.
    assert second.status_code == 200 and "This invoice is paid" in second.get_data(as_text=True)
    assert len(gateway.charges) == 1


def test_a_declined_card_changes_nothing_and_says_so(db, client, gateway, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    response = pay(client, gateway, token, number=fake_gateway.DECLINED_ON_CHARGE)
    assert response.status_code == 402
    assert "The card was declined. Nothing was charged: try another card." in response.get_data(as_text=True)
    db.refresh(invoice)
    assert invoice.amount_due == 45_600


def test_repeated_declines_rest_the_link(db, client, gateway, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    opened_before = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    for _ in range(3):
        assert pay(client, gateway, token, number=fake_gateway.DECLINED_ON_CHARGE).status_code == 402
    charges_before = len(gateway.charges)
    # Opened now, the page says so before a card is typed, and offers no card form.
    shown = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    assert "resting after several declined cards" in shown and "data-card-element" not in shown
    # A page opened before is refused when sent.
    response = pay(client, gateway, token, page=opened_before)
    assert response.status_code == 429
    assert "resting after several declined cards" in response.get_data(as_text=True)
    assert len(gateway.charges) == charges_before
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "guest.locked")) == 1


def test_every_attempt_is_audited(db, client, gateway, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    pay(client, gateway, token, number=fake_gateway.DECLINED_ON_CHARGE)
    pay(client, gateway, token)
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.invoice_id == invoice.id,
                                                         AuditEvent.action.like("payment.%"))).all()
    assert actions.count("payment.failed") == 1 and actions.count("payment.allocated") == 1


def test_a_bad_form_keeps_the_guest_on_the_page_with_a_message(client, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    page = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    response = client.post(f"/pay/{token}", data={"setup_id": setup_id_on(page), "attempt_key": attempt_key_on(page),
                                                  "email": "not an address"})
    assert response.status_code == 400
    assert "Enter an e-mail address such as name@company.com." in response.get_data(as_text=True)


def test_a_signed_in_clerk_of_the_company_is_offered_the_saved_card_path(client, login_as, make, pay_links, invoice):
    login_as(make.user(invoice.company))
    page = client.get(f"/pay/{pay_links.link_for(invoice).token}?lang=en").get_data(as_text=True)
    assert "Pay from your account, with a saved card" in page
    assert f"/payments/new?invoice={invoice.id}" in page


def test_an_anonymous_visitor_is_offered_to_sign_in(client, pay_links, invoice):
    page = client.get(f"/pay/{pay_links.link_for(invoice).token}?lang=en").get_data(as_text=True)
    assert "Sign in to pay with a saved card" in page


def test_views_of_one_link_are_limited(db, client, pay_links, invoice, app):
    install_services(app, replace(services_of(app), guest_limits=GuestLimits(views_per_link=3)))
    token = pay_links.link_for(invoice).token
    statuses = [client.get(f"/pay/{token}?lang=en").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_the_api_hands_out_a_link_and_issuing_e_mails_it_with_the_pdf(db, client, make, smtp_server):
    from portal.accounts.api_keys import create_api_key

    _, key = create_api_key(db, "erp")
    company = make.company(ref="GUESTCO", locale="en", billing_emails=["ap1@guest.test", "ap2@guest.test"])
    db.commit()
    headers = {"Authorization": f"Bearer {key}"}
    created = client.put("/api/v1/invoices/INV-MAIL-1", headers=headers, json={
        "company_ref": company.external_ref, "issue_date": "2026-11-01", "due_date": "2026-12-01", "currency": "EUR",
        "lines": [{"description": "Widgets", "quantity": 2, "unit_amount": 5000, "tax_rate": "20.00"}]})
    assert created.status_code == 201
    # The PDF is drawn by the outbox worker as it sends, not by the request.
    assert smtp_server.messages == []
    outbox.deliver(db, services_of(client.application).smtp)
    mails = [m for m in smtp_server.messages if "INV-MAIL-1" in m.message["Subject"]]
    assert sorted(r for m in mails for r in m.recipients) == ["ap1@guest.test", "ap2@guest.test"]
    message = mails[0].message
    [pdf] = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_content().startswith(b"%PDF") and pdf.get_filename() == "INV-MAIL-1.pdf"
    link = next(line for line in message.get_body(("plain",)).get_content().splitlines() if "/pay/" in line)
    token = link.strip().rsplit("/pay/", 1)[1]
    assert "Pay invoice INV-MAIL-1" in client.get(f"/pay/{token}?lang=en").get_data(as_text=True)

    fresh = client.post("/api/v1/invoices/INV-MAIL-1/pay-link", headers=headers)
    assert fresh.status_code == 200 and fresh.json["url"].startswith("http://portal.test/pay/")
    assert fresh.json["expires_at"]
