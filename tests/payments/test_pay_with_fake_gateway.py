"""The payment service's rules, quickly, against the in-memory gateway.

tests/payments/test_stripe_*.py prove the same behaviours against localstripe.
"""

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.models import AuditEvent, InvoicePaymentClaim, PaymentStatus
from portal.payments import fake_gateway
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import OutcomeUnknown, PaymentInProgress, PaymentNotAllowed


@pytest.fixture
def company(make):
    return make.company()


@pytest.fixture
def payer(make, company):
    return make.user(company)


def save_card(db, context, gateway, company, payer, number=fake_gateway.SUCCEEDS):
    setup = start_saving_card(db, context, company=company, email=payer.email)
    gateway.complete_setup(setup.setup_id, number)
    return finish_saving_card(db, context, Actor.user(payer), company=company, setup_id=setup.setup_id)


def pay(db, context, payer, company, invoices, *, attempt="a1", amount=None):
    return pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=payer.email,
                        request=PaymentRequest(invoice_ids=tuple(i.id for i in invoices), attempt_key=attempt,
                                               amount=amount))


def test_three_invoices_paid_in_one_charge_of_the_exact_sum(db, context, gateway, make, company, payer):
    card = save_card(db, context, gateway, company, payer)
    invoices = [make.invoice(company, total=total) for total in (1001, 2002, 3003)]
    payment = pay(db, context, payer, company, invoices)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert [charge.amount for charge in gateway.charges.values()] == [6006]
    assert [invoice.amount_due for invoice in invoices] == [0, 0, 0]
    assert payment.method_summary == f"Visa •••• {card.last4}"
    assert db.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0


def test_the_same_attempt_submitted_twice_charges_once(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=5000)
    first = pay(db, context, payer, company, [invoice], attempt="same")
    second = pay(db, context, payer, company, [invoice], attempt="same")
    assert first.id == second.id
    assert len(gateway.charges) == 1


def test_a_paid_invoice_cannot_be_paid_again(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=5000)
    pay(db, context, payer, company, [invoice], attempt="one")
    with pytest.raises(PaymentNotAllowed):
        pay(db, context, payer, company, [invoice], attempt="two")
    assert len(gateway.charges) == 1


def test_a_partial_payment_leaves_the_rest_due(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=5000)
    pay(db, context, payer, company, [invoice], amount=1234)
    assert invoice.amount_due == 5000 - 1234


def test_more_than_due_is_refused_before_any_charge(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=5000)
    with pytest.raises(PaymentNotAllowed):
        pay(db, context, payer, company, [invoice], amount=5001)
    assert gateway.charges == {}


def test_another_company_invoice_cannot_be_paid(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer)
    other = make.invoice(make.company(), total=5000)
    with pytest.raises(PaymentNotAllowed):
        pay(db, context, payer, company, [other])
    assert gateway.charges == {}


def test_a_declined_card_leaves_every_invoice_unpaid(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer, number=fake_gateway.DECLINED_ON_CHARGE)
    invoices = [make.invoice(company, total=1000), make.invoice(company, total=2000)]
    payment = pay(db, context, payer, company, invoices)
    assert payment.status == PaymentStatus.FAILED
    assert payment.failure_message == "Your card was declined."
    assert [invoice.amount_due for invoice in invoices] == [1000, 2000]
    assert db.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0


def test_a_charge_needing_authentication_holds_its_invoices_until_finished(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer, number=fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=1000)
    payment = pay(db, context, payer, company, [invoice], attempt="one")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    with pytest.raises(PaymentInProgress):
        pay(db, context, payer, company, [invoice], attempt="two")


def test_a_provider_outage_leaves_the_payment_processing_and_the_invoice_claimed(db, context, gateway, make,
                                                                                company, payer):
    save_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=1000)
    gateway.fail_next_call(OutcomeUnknown("down"))
    payment = pay(db, context, payer, company, [invoice])
    assert payment.status == PaymentStatus.PROCESSING
    assert db.get(InvoicePaymentClaim, invoice.id) is not None


def test_every_step_is_audited(db, context, gateway, make, company, payer):
    save_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=1000)
    payment = pay(db, context, payer, company, [invoice])
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.payment_id == payment.id)).all()
    assert actions == ["payment.started", "payment.succeeded", "payment.allocated"]
