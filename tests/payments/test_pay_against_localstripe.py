"""The issue's payment scenarios against localstripe, through the service and through HTTP.

What is asserted is what reached localstripe (charges, refunds), what the database holds
(payments, invoices' amounts due) and what the payer sees (pages, the receipt e-mail
received by a real SMTP server).
"""

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.models import InvoicePaymentClaim, Payment, PaymentStatus, Role
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import PaymentNotAllowed
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, visible_text
from tests.payments.conftest import DECLINED_ON_CHARGE, NEEDS_AUTHENTICATION, pay_form


@pytest.fixture
def app_overrides(stripe_settings, smtp_server):
    return {**stripe_settings, **smtp_server.app_config, "ACQUIT_SUPPLIER_NAME": "Fournitures Durand"}


@pytest.fixture
def company(make):
    return make.company(name="Acme Industrie SAS", locale="en")


@pytest.fixture
def payer(make, company):
    return make.user(company, role=Role.PAYER, locale="en")


@pytest.fixture
def payer_client(login_as, payer, client):
    login_as(payer)
    set_language(client, "en")
    return client


def charges_for(server, company):
    return server.succeeded_charges(customer=company.provider_customer_id)


def claims(db) -> int:
    return db.scalar(select(func.count()).select_from(InvoicePaymentClaim))


def pay(db, payments, payer, company, invoices, *, attempt="attempt-1", amount=None, card=None):
    return pay_invoices(db, payments, Actor.user(payer), company=company, receipt_email=payer.email,
                        request=PaymentRequest(invoice_ids=tuple(invoice.id for invoice in invoices),
                                               attempt_key=attempt, amount=amount,
                                               card_id=card.id if card else None))


def payment_id_from(response) -> int:
    assert response.status_code == 303, visible_text(response)
    location = response.headers["Location"]
    assert location.startswith("/payments/"), location
    return int(location.rsplit("/", 1)[1])


# --- Through the service ------------------------------------------------------------------


def test_three_invoices_are_paid_by_one_charge_of_their_exact_sum(db, make, payments, save_card, stripe_server,
                                                                  company, payer):
    card = save_card(company, payer)
    invoices = [make.invoice(company, total=total) for total in (123_45, 678_90, 1_000_01)]

    payment = pay(db, payments, payer, company, invoices)

    assert payment.status == PaymentStatus.SUCCEEDED
    [charge] = charges_for(stripe_server, company)
    assert (charge["amount"], charge["currency"], charge["payment_intent"], charge["payment_method"]) == (
        123_45 + 678_90 + 1_000_01, "eur", payment.provider_reference, card.provider_id)
    for invoice in invoices:
        db.refresh(invoice)
    assert [invoice.amount_due for invoice in invoices] == [0, 0, 0]
    assert sorted((a.invoice_id, a.amount) for a in payment.allocations) == sorted(
        (invoice.id, invoice.amount_total) for invoice in invoices)
    assert claims(db) == 0


def test_a_declined_card_leaves_every_invoice_unpaid(db, make, payments, save_card, stripe_server, company, payer):
    save_card(company, payer, DECLINED_ON_CHARGE)
    invoices = [make.invoice(company, total=500_00), make.invoice(company, total=250_00)]

    payment = pay(db, payments, payer, company, invoices)

    assert (payment.status, payment.failure_message) == (PaymentStatus.FAILED, "Your card was declined.")
    for invoice in invoices:
        db.refresh(invoice)
    assert [invoice.amount_due for invoice in invoices] == [500_00, 250_00]
    assert charges_for(stripe_server, company) == []
    assert [c["status"] for c in stripe_server.charges(customer=company.provider_customer_id)] == ["failed"]
    assert claims(db) == 0


def test_the_same_attempt_twice_charges_once(db, make, payments, save_card, stripe_server, company, payer):
    save_card(company, payer)
    invoice = make.invoice(company, total=300_00)
    first = pay(db, payments, payer, company, [invoice], attempt="same")
    second = pay(db, payments, payer, company, [invoice], attempt="same")
    assert first.id == second.id
    assert len(charges_for(stripe_server, company)) == 1


def test_over_payment_is_refused_before_stripe_hears_of_it(db, make, payments, save_card, stripe_server, company,
                                                            payer):
    save_card(company, payer)
    invoice = make.invoice(company, total=100_00)
    with pytest.raises(PaymentNotAllowed):
        pay(db, payments, payer, company, [invoice], amount=100_01)
    assert stripe_server.payment_intents(customer=company.provider_customer_id) == []
    assert db.scalar(select(func.count()).select_from(Payment).where(Payment.company_id == company.id)) == 0


# --- Through HTTP, as the payer does it ---------------------------------------------------


def test_paying_three_invoices_in_one_click(db, make, save_card, stripe_server, smtp_server, company, payer,
                                            payer_client):
    card = save_card(company, payer)
    invoices = [make.invoice(company, total=total) for total in (123_45, 678_90, 1_000_01)]
    db.commit()
    query = "&".join(f"invoice={invoice.id}" for invoice in invoices)
    offer = payer_client.get(f"/payments/new?{query}")
    assert offer.status_code == 200
    assert "Pay €1,802.36" in visible_text(offer)

    response = payer_client.post("/payments", data=pay_form(invoices, card))

    payment = db.get(Payment, payment_id_from(response))
    db.refresh(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    [charge] = charges_for(stripe_server, company)
    assert (charge["amount"], charge["payment_intent"]) == (1_802_36, payment.provider_reference)
    for invoice in invoices:
        db.refresh(invoice)
    assert [invoice.amount_due for invoice in invoices] == [0, 0, 0]

    shown = visible_text(payer_client.get(f"/payments/{payment.id}"))
    assert "Payment received — thank you" in shown
    assert "€1,802.36" in shown and "Visa •••• 4242" in shown
    assert all(invoice.number in shown for invoice in invoices)

    [receipt] = smtp_server.messages
    assert receipt.recipients == [payer.email, *company.billing_emails]
    assert receipt.message["Subject"] == "Payment received: €1,802.36 — Fournitures Durand"
    body = receipt.text_body()
    assert f"Payment reference: {payment.provider_reference}" in body
    for invoice in invoices:
        assert f"- {invoice.number}: €{invoice.amount_total / 100:,.2f}" in body


def test_a_declined_card_shows_why_and_leaves_every_invoice_unpaid(db, make, save_card, stripe_server, smtp_server,
                                                                   company, payer, payer_client):
    card = save_card(company, payer, DECLINED_ON_CHARGE)
    invoices = [make.invoice(company, total=500_00), make.invoice(company, total=250_00)]
    db.commit()

    response = payer_client.post("/payments", data=pay_form(invoices, card))

    assert response.status_code == 402
    assert page(response).find("p", class_="flash-error").text == (
        "The card was declined. Nothing was charged: try another card.")
    for invoice in invoices:
        db.refresh(invoice)
    assert [invoice.amount_due for invoice in invoices] == [500_00, 250_00]
    assert db.scalars(select(Payment.status).where(Payment.company_id == company.id)).all() == [PaymentStatus.FAILED]
    assert charges_for(stripe_server, company) == []
    assert claims(db) == 0
    assert smtp_server.messages == []


def test_a_payment_needing_3d_secure_is_finished_on_the_page(db, make, save_card, stripe_server, company, payer,
                                                             payer_client):
    card = save_card(company, payer, NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=420_00)
    db.commit()

    payment_id = payment_id_from(payer_client.post("/payments", data=pay_form([invoice], card)))

    [intent] = stripe_server.payment_intents(customer=company.provider_customer_id)
    assert intent["status"] == "requires_action"
    shown = payer_client.get(f"/payments/{payment_id}")
    form = page(shown).find("form", **{"data-payment-authentication": ""})
    assert form.attrs["data-client-secret"] == intent["client_secret"]
    assert stripe_server.stripe_js_url in shown.get_data(as_text=True)
    assert charges_for(stripe_server, company) == []

    stripe_server.authenticate_payment_intent(intent, success=True)
    checked = payer_client.post(f"/payments/{payment_id}/check")

    assert checked.status_code == 303
    payment = db.get(Payment, payment_id)
    db.refresh(payment)
    db.refresh(invoice)
    assert (payment.status, invoice.amount_due) == (PaymentStatus.SUCCEEDED, 0)
    assert [c["amount"] for c in charges_for(stripe_server, company)] == [420_00]
    assert "Payment received — thank you" in visible_text(payer_client.get(f"/payments/{payment_id}"))
    assert claims(db) == 0


def test_failed_3d_secure_fails_the_payment_and_the_invoice_stays_due(db, make, save_card, stripe_server, company,
                                                                      payer, payer_client):
    card = save_card(company, payer, NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=420_00)
    db.commit()
    payment_id = payment_id_from(payer_client.post("/payments", data=pay_form([invoice], card)))
    [intent] = stripe_server.payment_intents(customer=company.provider_customer_id)

    stripe_server.authenticate_payment_intent(intent, success=False)
    payer_client.post(f"/payments/{payment_id}/check")

    payment = db.get(Payment, payment_id)
    db.refresh(payment)
    db.refresh(invoice)
    assert (payment.status, invoice.amount_due) == (PaymentStatus.FAILED, 420_00)
    assert charges_for(stripe_server, company) == []
    shown = visible_text(payer_client.get(f"/payments/{payment_id}"))
    assert "Payment not made" in shown and "Your bank did not confirm the payment." in shown
    assert claims(db) == 0


def test_cancelling_a_payment_waiting_for_3d_secure_frees_the_invoice(db, make, save_card, stripe_server, company,
                                                                      payer, payer_client):
    card = save_card(company, payer, NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=420_00)
    db.commit()
    payment_id = payment_id_from(payer_client.post("/payments", data=pay_form([invoice], card)))

    assert payer_client.post(f"/payments/{payment_id}/cancel").status_code == 303

    [intent] = stripe_server.payment_intents(customer=company.provider_customer_id)
    assert intent["status"] == "canceled"
    payment = db.get(Payment, payment_id)
    db.refresh(payment)
    assert payment.status == PaymentStatus.FAILED
    assert claims(db) == 0


def test_a_partial_payment_then_the_rest(db, make, save_card, stripe_server, company, payer, payer_client):
    card = save_card(company, payer)
    invoice = make.invoice(company, total=100_00)
    db.commit()

    payment_id_from(payer_client.post("/payments", data=pay_form([invoice], card, amount="40.00")))
    db.refresh(invoice)
    assert invoice.amount_due == 60_00
    payment_id_from(payer_client.post("/payments", data=pay_form([invoice], card)))

    db.refresh(invoice)
    assert invoice.amount_due == 0
    assert [c["amount"] for c in charges_for(stripe_server, company)] == [40_00, 60_00]


def test_paying_more_than_is_due_is_refused_and_nothing_is_charged(db, make, save_card, stripe_server, company,
                                                                   payer, payer_client):
    card = save_card(company, payer)
    invoice = make.invoice(company, total=100_00)
    db.commit()

    response = payer_client.post("/payments", data=pay_form([invoice], card, amount="100.01"))

    # The form says so beside the amount, in the page's language, before the service is asked.
    assert response.status_code == 400
    amount_field = page(response).find("label", class_="has-error")
    assert amount_field.find("small", class_="error").text == "That is more than the €100.00 that can be paid now."
    assert stripe_server.payment_intents(customer=company.provider_customer_id) == []
    db.refresh(invoice)
    assert invoice.amount_due == 100_00


def test_a_refund_by_staff_reopens_exactly_that_amount(db, make, login_as, client, save_card, stripe_server, company,
                                                       payer, payments):
    save_card(company, payer)
    invoices = [make.invoice(company, total=total) for total in (100_00, 200_00, 300_00)]
    payment = pay(db, payments, payer, company, invoices)
    allocation = next(a for a in payment.allocations if a.invoice_id == invoices[1].id)
    staff = make.staff(locale="en")
    db.commit()
    login_as(staff)

    asked = client.post(f"/collections/payments/{payment.id}/refunds",
                        data={"allocation_id": allocation.id, "amount": "12.34", "reason": "Damaged pallet"})
    assert asked.status_code == 200 and "Refund €12.34?" in visible_text(asked)
    assert stripe_server.refunds(payment_intent=payment.provider_reference) == []
    response = client.post(f"/collections/payments/{payment.id}/refunds",
                           data={"allocation_id": allocation.id, "amount": "12.34", "reason": "Damaged pallet",
                                 "confirmed": "yes", "attempt_key": "a" * 32})

    assert response.status_code == 303
    for invoice in invoices:
        db.refresh(invoice)
    assert [invoice.amount_due for invoice in invoices] == [0, 12_34, 0]
    [refund] = stripe_server.refunds(payment_intent=payment.provider_reference)
    assert refund["amount"] == 12_34
    [charge] = charges_for(stripe_server, company)
    assert (charge["amount"], charge["amount_refunded"]) == (600_00, 12_34)

    too_much = client.post(f"/collections/payments/{payment.id}/refunds",
                           data={"allocation_id": allocation.id, "amount": "187.67"})
    assert too_much.status_code == 409
    assert "At most €187.66 can still be refunded on this invoice." in visible_text(too_much)
    assert len(stripe_server.refunds(payment_intent=payment.provider_reference)) == 1


def test_a_viewer_can_look_at_payments_but_not_pay_or_touch_cards(app, db, make, login_as, client, payments,
                                                                  save_card, stripe_server, company, payer):
    card = save_card(company, payer, NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=100_00)
    waiting = pay(db, payments, payer, company, [invoice])
    viewer = make.user(company, role=Role.VIEWER, locale="en")
    db.commit()
    login_as(viewer)
    values = {"payment_id": waiting.id, "card_id": card.id}
    readable = {"payments.index", "payments.show"}

    checked = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("payments."):
            continue
        url = rule.build(values)[1] if rule.arguments else rule.rule
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = pay_form([invoice], card) if method == "POST" else None
            status = client.open(url, method=method, data=data).status_code
            checked.append(rule.endpoint)
            expected = 200 if rule.endpoint in readable and method == "GET" else 403
            assert status == expected, f"{method} {url} answered {status}"

    assert len(checked) >= 10
    assert [i["status"] for i in stripe_server.payment_intents(customer=company.provider_customer_id)] == [
        "requires_action"]
    db.refresh(card)
    assert (card.removed_at, card.is_default) == (None, True)
    assert db.scalar(select(func.count()).select_from(Payment).where(Payment.company_id == company.id)) == 1
