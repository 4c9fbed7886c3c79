"""The collections team's money pages: recording a bank transfer or cheque, cancelling one, and refunding a
card payment with a confirmation naming the amount first. Over HTTP, on the in-memory gateway."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import clock
from portal.audit import Actor
from portal.models import OutboxMessage, Payment, PaymentChannel, PaymentStatus, Refund
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.services import services_of
from tests.blueprints.pages import page, visible_text
from tests.payments.conftest import save_fake_card

pytestmark = pytest.mark.usefixtures("english")

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def company(make):
    return make.company(name="Alpha Foods", ref="CUST-ALPHA", locale="en", billing_emails=["ap@alpha.test"])


@pytest.fixture
def staff_client(make, login_as):
    return login_as(make.staff(locale="en"))


def transfer_form(*shares, amount: str, reference="VIR 2026/0042", received_on=None, method="bank_transfer",
                  currency="EUR", attempt_key=KEY) -> dict:
    form = {"method": method, "reference": reference, "amount": amount, "currency_code": currency,
            "received_on": (received_on or clock.today()).isoformat(), "attempt_key": attempt_key,
            "invoice": [str(invoice.id) for invoice, _ in shares]}
    form.update({f"share-{invoice.id}": share for invoice, share in shares if share is not None})
    return form


def fresh(db, *rows):
    for row in rows:
        db.refresh(row)
    return rows


def test_the_staff_invoice_page_leads_to_the_transfer_form_with_the_invoice_ticked_and_its_amount(
        make, staff_client, company):
    invoice = make.invoice(company, total=1_234_56)
    make.invoice(company, total=100_00)
    make.session.commit()

    invoice_page = page(staff_client.get(f"/collections/invoices/{invoice.id}"))
    link = invoice_page.find("a", href=f"/collections/companies/{company.external_ref}/money-received?invoice={invoice.id}")
    form_page = staff_client.get(link.attrs["href"])

    assert form_page.status_code == 200
    html = page(form_page)
    ticked = [box.attrs["value"] for box in html.find_all("input", type="checkbox") if "checked" in box.attrs]
    assert ticked == [str(invoice.id)]
    assert html.find("input", name="amount").attrs["value"] == "1,234.56"
    assert "Record a bank transfer or cheque" in visible_text(form_page)


def test_a_transfer_over_two_invoices_is_recorded_and_each_owes_the_rest(db, make, staff_client, company):
    first, second = make.invoice(company, total=300_00), make.invoice(company, total=500_00)
    make.session.commit()

    response = staff_client.post(f"/collections/companies/{company.external_ref}/money-received",
                                 data=transfer_form((first, "300.00"), (second, "200.00"), amount="500.00"))

    assert response.status_code == 303
    [payment] = db.scalars(select(Payment).where(Payment.company_id == company.id))
    assert response.headers["Location"] == f"/collections/payments/{payment.id}"
    assert (payment.channel, payment.amount, payment.payer_reference) == (PaymentChannel.OFFLINE, 500_00,
                                                                           "VIR 2026/0042")
    assert [invoice.amount_due for invoice in fresh(db, first, second)] == [0, 300_00]
    shown = visible_text(staff_client.get(response.headers["Location"]))
    assert f"Bank transfer of €500.00 recorded against {first.number}, {second.number}." in shown
    assert "VIR 2026/0042" in shown and "Received" in shown


def test_one_invoice_with_no_share_takes_the_whole_amount(db, make, staff_client, company):
    invoice = make.invoice(company, total=300_00)
    make.session.commit()

    response = staff_client.post(f"/collections/companies/{company.external_ref}/money-received",
                                 data=transfer_form((invoice, None), amount="120.00", method="cheque"))

    assert response.status_code == 303
    assert fresh(db, invoice)[0].amount_due == 180_00


@pytest.mark.parametrize("shares, amount, message", [
    (lambda a, b: [(a, "100.00"), (b, "100.00")], "250.00",
     "The invoices' shares add up to €200.00, not the €250.00 received. Change the shares or the amount."),
    (lambda a, b: [(a, "300.01")], "300.01", "€300.01 is more than the €300.00 still owed on invoice"),
    (lambda a, b: [(a, "100.00"), (b, None)], "100.00", "Enter how much of the amount goes to this invoice."),
    (lambda a, b: [(a, "ten euros")], "10.00", "Enter an amount such as 1234.56."),
    (lambda a, b: [], "10.00", "Choose at least one invoice."),
], ids=["split-wrong", "above-owed", "share-missing", "share-not-an-amount", "no-invoice"])
def test_a_wrong_transfer_is_refused_with_why_and_everything_typed_kept(db, make, staff_client, company, shares,
                                                                         amount, message):
    first, second = make.invoice(company, total=300_00), make.invoice(company, total=500_00)
    make.session.commit()

    response = staff_client.post(f"/collections/companies/{company.external_ref}/money-received",
                                 data=transfer_form(*shares(first, second), amount=amount))

    assert response.status_code in (400, 409)
    assert message in visible_text(response)
    html = page(response)
    assert html.find("input", name="reference").attrs["value"] == "VIR 2026/0042"
    assert html.find("input", name="amount").attrs["value"] == amount
    assert db.scalar(select(func.count()).select_from(Payment).where(Payment.company_id == company.id)) == 0


def test_a_transfer_received_tomorrow_is_refused(db, make, staff_client, company):
    invoice = make.invoice(company, total=300_00)
    make.session.commit()

    response = staff_client.post(f"/collections/companies/{company.external_ref}/money-received", data=transfer_form(
        (invoice, None), amount="10.00", received_on=clock.today() + timedelta(days=1)))

    assert response.status_code == 409
    assert "The date received cannot be in the future." in visible_text(response)


def test_staff_cancel_a_transfer_recorded_by_mistake_and_the_customer_sees_it_owed_again(db, make, staff_client,
                                                                                         company, client, login_as):
    invoice = make.invoice(company, total=300_00)
    make.session.commit()
    staff_client.post(f"/collections/companies/{company.external_ref}/money-received",
                      data=transfer_form((invoice, None), amount="300.00"))
    [payment] = db.scalars(select(Payment).where(Payment.company_id == company.id))

    without_reason = staff_client.post(f"/collections/payments/{payment.id}/cancel", data={"reason": ""})
    assert without_reason.status_code == 400
    cancelled = staff_client.post(f"/collections/payments/{payment.id}/cancel",
                                  data={"reason": "Wrong customer"})

    assert cancelled.status_code == 303
    assert fresh(db, payment)[0].status == PaymentStatus.CANCELLED
    shown = visible_text(staff_client.get(f"/collections/payments/{payment.id}"))
    assert "Payment cancelled: its invoices owe again what it had settled." in shown
    assert "Wrong customer" in shown and "Cancelled" in shown
    assert "Cancel this payment" not in shown
    assert fresh(db, invoice)[0].amount_due == 300_00
    staff_client.post("/logout")
    clerk = login_as(make.user(company, locale="en"))
    detail = visible_text(clerk.get(f"/invoices/{invoice.id}"))
    assert "Bank transfer or cheque cancelled: recorded by mistake" in detail


# Refunds -------------------------------------------------------------------------------------


@pytest.fixture
def card_payment(app, db, make, company):
    """A card payment of €300.00 and €200.00 on two invoices, made by a clerk whose receipts go to them."""
    context = services_of(app).payments
    payer = make.user(company, email="payer@alpha.test", locale="en")
    invoices = [make.invoice(company, total=300_00), make.invoice(company, total=200_00)]
    save_fake_card(db, context, context.gateway, company, payer)
    payment = pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=payer.email,
                           request=PaymentRequest(invoice_ids=tuple(i.id for i in invoices), attempt_key="p1"))
    db.commit()
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def refunds(db, payment) -> list[Refund]:
    return list(db.scalars(select(Refund).where(Refund.payment_id == payment.id)))


def test_a_refund_asks_for_confirmation_naming_the_amount_before_anything_is_sent(app, db, staff_client,
                                                                                 card_payment):
    allocation = card_payment.allocations[0]
    gateway = services_of(app).payments.gateway

    asked = staff_client.post(f"/collections/payments/{card_payment.id}/refunds",
                              data={"allocation_id": allocation.id, "amount": "50.00", "reason": "Damaged pallet"})

    assert asked.status_code == 200
    shown = visible_text(asked)
    assert "Refund €50.00?" in shown
    assert f"Invoice {allocation.invoice.number} will owe €50.00 more." in shown
    assert "Damaged pallet" in shown
    assert refunds(db, card_payment) == [] and gateway.refunds == {}
    confirm = page(asked).find("form", action=f"/collections/payments/{card_payment.id}/refunds")
    fields = {field.attrs["name"]: field.attrs.get("value", "") for field in confirm.find_all("input")}
    assert fields["confirmed"] == "yes" and fields["amount"] == "50.00"
    assert confirm.find("button").text == "Refund €50.00"

    made = staff_client.post(f"/collections/payments/{card_payment.id}/refunds", data=fields)
    again = staff_client.post(f"/collections/payments/{card_payment.id}/refunds", data=fields)

    assert (made.status_code, again.status_code) == (303, 303)
    [refund] = refunds(db, card_payment)
    assert refund.amount == 50_00 and len(gateway.refunds) == 1
    assert fresh(db, allocation.invoice)[0].amount_due == 50_00


def test_a_refund_above_what_can_be_given_back_is_refused_before_the_confirmation(db, staff_client, card_payment):
    allocation = card_payment.allocations[1]

    response = staff_client.post(f"/collections/payments/{card_payment.id}/refunds",
                                 data={"allocation_id": allocation.id, "amount": "200.01"})

    assert response.status_code == 409
    assert "At most €200.00 can still be refunded on this invoice." in visible_text(response)
    assert refunds(db, card_payment) == []


def refund_confirmed(staff_client, payment, allocation, amount: str):
    asked = staff_client.post(f"/collections/payments/{payment.id}/refunds",
                              data={"allocation_id": allocation.id, "amount": amount, "reason": "Goodwill"})
    confirm = page(asked).find("form", action=f"/collections/payments/{payment.id}/refunds")
    return staff_client.post(f"/collections/payments/{payment.id}/refunds",
                             data={field.attrs["name"]: field.attrs.get("value", "") for field in confirm.find_all("input")})


def test_a_payment_shows_partly_refunded_then_refunded_and_the_customer_is_told_each_time(
        db, make, staff_client, card_payment, login_as, company):
    first, second = card_payment.allocations

    refund_confirmed(staff_client, card_payment, first, "50.00")

    assert "Partly refunded" in visible_text(staff_client.get(f"/collections/payments/{card_payment.id}"))
    [notice] = db.scalars(select(OutboxMessage).where(OutboxMessage.subject.like("Refund of%")))
    assert notice.recipients == ["payer@alpha.test", "ap@alpha.test"]
    assert notice.subject.startswith("Refund of €50.00")
    assert "We refunded €50.00 of your payment of €500.00" in notice.body_text
    assert f"The refund concerns invoice {first.invoice.number}." in notice.body_text
    assert "Still due on the invoice: €50.00." in notice.body_text

    refund_confirmed(staff_client, card_payment, first, "250.00")
    refund_confirmed(staff_client, card_payment, second, "200.00")

    assert "Refunded" in visible_text(staff_client.get("/collections/payments"))
    staff_client.post("/logout")
    clerk = login_as(make.user(company, locale="en"))
    assert "Refunded" in visible_text(clerk.get("/payments"))
    detail = visible_text(clerk.get(f"/invoices/{first.invoice_id}"))
    assert "Refunded to the customer — €250.00" in detail and "-€250.00" in detail.replace("−", "-")
    assert db.scalar(select(func.count()).select_from(OutboxMessage)
                     .where(OutboxMessage.subject.like("Refund of%"))) == 3
