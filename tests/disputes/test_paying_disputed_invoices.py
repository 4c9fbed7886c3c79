"""Paying an invoice with a dispute in progress: the undisputed part is charged, the disputed part never.

Through the real payment service with the in-memory gateway, as tests/payments/test_pay_with_fake_gateway.py.
"""

import pytest
from sqlalchemy import select

from portal import clock
from portal.audit import Actor
from portal.billing import payable
from portal.billing.history import invoice_timeline
from portal.billing.status import InvoiceStatus, invoice_status
from portal.disputes import service as disputes
from portal.disputes.errors import DisputeConflict
from portal.models import Dispute, Invoice, PaymentStatus
from portal.payments import fake_gateway
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.context import PaymentContext
from portal.payments.errors import PaymentNotAllowed
from portal.payments.fake_gateway import FakeGateway

TODAY = clock.today()


@pytest.fixture
def gateway():
    return FakeGateway()


@pytest.fixture
def payments(gateway):
    return PaymentContext(gateway=gateway, supplier_name="Supplier", base_url="http://portal.test")


@pytest.fixture
def card(db, payments, gateway, customer):
    return save_card(db, payments, gateway, customer)


def save_card(db, payments, gateway, customer, number=fake_gateway.SUCCEEDS):
    setup = start_saving_card(db, payments, company=customer.company, email=customer.payer.email)
    gateway.complete_setup(setup.setup_id, number)
    return finish_saving_card(db, payments, Actor.user(customer.payer), company=customer.company,
                              setup_id=setup.setup_id)


def pay(db, payments, customer, invoices, *, attempt="a1", amount=None):
    return pay_invoices(db, payments, Actor.user(customer.payer), company=customer.company,
                        receipt_email=customer.payer.email,
                        request=PaymentRequest(invoice_ids=tuple(invoice.id for invoice in invoices),
                                               attempt_key=attempt, amount=amount))


def fresh(db, invoice) -> Invoice:
    db.expire(invoice)
    return db.get(Invoice, invoice.id)


def test_the_undisputed_part_is_paid_and_a_credit_note_settles_the_rest(db, make, context, payments, gateway,
                                                                        card, customer, staff):
    invoice = make.invoice(customer.company, total=10_000)
    dispute = make.dispute(context, invoice, customer.payer, amount=3_000)

    payment = pay(db, payments, customer, [invoice])

    assert payment.status == PaymentStatus.SUCCEEDED
    assert [charge.amount for charge in gateway.charges.values()] == [7_000]
    assert [allocation.amount for allocation in payment.allocations] == [7_000]
    invoice = fresh(db, invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (7_000, 3_000)
    assert invoice_status(invoice, TODAY) == InvoiceStatus.DISPUTED
    assert payable.undisputed_amount_due(db, invoice) == 0
    with pytest.raises(PaymentNotAllowed, match="disputed"):
        pay(db, payments, customer, [invoice], attempt="a2")

    credit_note = disputes.accept_with_credit_note(db, context, staff, disputes.find_dispute(db, dispute.id),
                                                   amount=3_000, credit_note_number="CN-D-7000",
                                                   issue_date=TODAY, note="Agreed.")

    invoice = fresh(db, invoice)
    assert (invoice.amount_paid, invoice.amount_credited, invoice.amount_due) == (7_000, 3_000, 0)
    assert credit_note.amount == 3_000
    assert invoice_status(invoice, TODAY) == InvoiceStatus.PAID
    assert len(gateway.charges) == 1
    assert [event.action for event in invoice_timeline(db, invoice)] == [
        "invoice.created", "invoice.issued", "dispute.raised", "payment.allocated", "credit_note.applied",
        "dispute.credited",
    ]


def test_more_than_the_undisputed_part_is_refused_before_any_charge(db, make, context, payments, gateway, card,
                                                                    customer):
    invoice = make.invoice(customer.company, total=10_000)
    make.dispute(context, invoice, customer.payer, amount=3_000)

    with pytest.raises(PaymentNotAllowed, match="the rest is disputed"):
        pay(db, payments, customer, [invoice], amount=7_001)

    assert gateway.charges == {}
    assert pay(db, payments, customer, [invoice], attempt="a2", amount=7_000).status == PaymentStatus.SUCCEEDED


def test_a_wholly_disputed_invoice_cannot_be_paid_until_the_dispute_ends(db, make, context, payments, gateway, card,
                                                                         customer, staff):
    invoice = make.invoice(customer.company, total=10_000)
    dispute = make.dispute(context, invoice, customer.payer)

    with pytest.raises(PaymentNotAllowed, match="disputed"):
        pay(db, payments, customer, [invoice])
    assert gateway.charges == {}

    disputes.reject_dispute(db, context, staff, disputes.find_dispute(db, dispute.id), reason="Price list applies.")
    payment = pay(db, payments, customer, [invoice], attempt="a2")

    assert [charge.amount for charge in gateway.charges.values()] == [10_000]
    assert payment.status == PaymentStatus.SUCCEEDED
    assert fresh(db, invoice).amount_due == 0


def test_paying_several_invoices_charges_each_one_without_its_disputed_part(db, make, context, payments, gateway,
                                                                           card, customer):
    plain, disputed = make.invoice(customer.company, total=1_000), make.invoice(customer.company, total=5_000)
    make.dispute(context, disputed, customer.payer, amount=1_250)

    payment = pay(db, payments, customer, [plain, disputed])

    assert [charge.amount for charge in gateway.charges.values()] == [4_750]
    assert sorted(allocation.amount for allocation in payment.allocations) == [1_000, 3_750]


def test_no_dispute_is_raised_on_an_invoice_while_a_card_payment_of_it_waits(db, make, context, payments, gateway,
                                                                             customer):
    save_card(db, payments, gateway, customer, number=fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(customer.company, total=10_000)
    assert pay(db, payments, customer, [invoice]).status == PaymentStatus.REQUIRES_ACTION

    with pytest.raises(DisputeConflict) as refused:
        make.dispute(context, invoice, customer.payer, amount=1_000)

    assert refused.value.code == "payment_in_progress"
    assert db.scalar(select(Dispute.id)) is None
