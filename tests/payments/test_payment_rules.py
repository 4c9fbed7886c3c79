"""Three rules of paying that hold today and that nothing else would notice breaking.

1. A dispute awaiting the customer's answer is still active: it holds its amount back.
2. Invoices in two currencies are never charged together.
3. A charge the provider reports for another amount than asked settles no invoice.

Each test here was seen to fail with its rule's line removed from portal/.
"""

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.invoices import LineInput, create_invoice
from portal.blueprints.app_services import services
from portal.disputes.service import post_message
from portal.models import DisputeStatus, InvoicePaymentClaim, Payment, PaymentAttention, PaymentStatus
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import OutcomeUnknown, PaymentNotAllowed
from portal.payments.provider_events import reconcile
from tests.payments.conftest import save_fake_card


@pytest.fixture
def disputes(app):
    with app.app_context():
        return services().disputes


@pytest.fixture
def company(make):
    return make.company(currency="EUR")


@pytest.fixture
def payer(make, company):
    return make.user(company)


@pytest.fixture
def card(db, context, gateway, company, payer):
    return save_fake_card(db, context, gateway, company, payer)


def pay(db, context, payer, company, invoices, *, attempt="a1", amount=None):
    return pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=payer.email,
                        request=PaymentRequest(invoice_ids=tuple(invoice.id for invoice in invoices),
                                               attempt_key=attempt, amount=amount))


def fresh(db, row):
    db.refresh(row)
    return row


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


# --- 1. A dispute awaiting the customer still holds its amount back ------------------------------


@pytest.fixture
def invoice_awaiting_the_customer(db, make, disputes, company, payer):
    """A 100.00 invoice with 30.00 disputed, on which the collections team has asked the customer for more."""
    invoice = make.invoice(company, total=100_00)
    dispute = make.dispute(disputes, invoice, payer, amount=30_00)
    post_message(db, disputes, make.staff(), dispute, body="Please send us the delivery note.", ask_customer=True)
    db.commit()
    assert fresh(db, dispute).status == DisputeStatus.AWAITING_CUSTOMER
    return invoice


def test_paying_an_invoice_whose_dispute_awaits_the_customer_charges_only_the_undisputed_part(
        db, context, gateway, card, company, payer, invoice_awaiting_the_customer):
    payment = pay(db, context, payer, company, [invoice_awaiting_the_customer])

    assert payment.status == PaymentStatus.SUCCEEDED
    assert [charge.amount for charge in gateway.charges.values()] == [70_00]
    invoice = fresh(db, invoice_awaiting_the_customer)
    assert (invoice.amount_paid, invoice.amount_due) == (70_00, 30_00)


def test_a_partial_amount_above_the_undisputed_part_is_refused_while_the_dispute_awaits_the_customer(
        db, context, gateway, card, company, payer, invoice_awaiting_the_customer):
    with pytest.raises(PaymentNotAllowed, match="the rest is disputed"):
        pay(db, context, payer, company, [invoice_awaiting_the_customer], amount=70_01)

    assert gateway.charges == {}
    assert count(db, Payment) == 0


# --- 2. Invoices in two currencies are never charged together -------------------------------------


def test_invoices_in_two_currencies_are_refused_before_the_provider_is_called(db, make, context, gateway, card,
                                                                             company, payer):
    euros = make.invoice(company, total=100_00)
    dollars = create_invoice(
        db, Actor.system("tests"), company=company, number="INV-USD-1", issue_date=date.today() - timedelta(days=10),
        due_date=date.today() + timedelta(days=20), currency="USD",
        lines=[LineInput(description="Services", quantity=Decimal(1), unit_amount=50_00, tax_rate=Decimal(0))],
    )
    db.commit()

    with pytest.raises(PaymentNotAllowed, match="different currencies"):
        pay(db, context, payer, company, [euros, dollars])

    assert gateway.charges == {}
    assert (count(db, Payment), count(db, InvoicePaymentClaim)) == (0, 0)
    assert (fresh(db, euros).amount_due, fresh(db, dollars).amount_due) == (100_00, 50_00)


# --- 3. A charge of another amount than asked settles nothing ---------------------------------------


def test_a_charge_reported_one_cent_short_settles_no_invoice(db, make, context, gateway, card, company, payer):
    invoice = make.invoice(company, total=100_00)
    gateway.fail_after_next_call(OutcomeUnknown("connection reset after sending"))
    payment = pay(db, context, payer, company, [invoice])
    [charge] = gateway.charges.values()
    gateway.charges[charge.reference] = dataclasses.replace(charge, amount=99_99)

    reconcile(db, context)

    payment, invoice = fresh(db, payment), fresh(db, invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (0, 100_00)
    assert (payment.status, payment.amount, payment.allocations) == (PaymentStatus.SUCCEEDED, 99_99, [])
    assert payment.attention == PaymentAttention.AMOUNT_MISMATCH
    assert count(db, InvoicePaymentClaim) == 0
