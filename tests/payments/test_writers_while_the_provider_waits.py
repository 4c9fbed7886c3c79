"""While the provider is asked for a card charge, the payment holds no write lock: another request
writes and commits meanwhile (on SQLite, the writers' turn of `portal.sqlite_writers` has ended
with the payment row's commit). Then the provider's answer is lost after it charged (a 500) or
never comes (a timeout): the payment stays in flight, holding its claim, for the provider's
record to decide. Real commits, on a database of this module's own, on SQLite and on
PostgreSQL (ACQUIT_TEST_DATABASE_URL) alike.
"""

import threading
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from portal.audit import Actor
from portal.billing.invoices import LineInput
from portal.billing.sync import InvoiceData, upsert_invoice
from portal.db import begin_write, make_engine
from portal.models import AuditEvent, Invoice, InvoicePaymentClaim, PaymentStatus
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.context import PaymentContext
from portal.payments.errors import OutcomeUnknown
from portal.payments.fake_gateway import FakeGateway
from tests.builders import Builders
from tests.conftest import migrated_database
from tests.payments.conftest import save_fake_card

TOTAL = 250_00


@dataclass
class StalledGateway(FakeGateway):
    """The in-memory gateway, whose charge waits until the test lets it answer."""

    asked: threading.Event = field(default_factory=threading.Event)
    may_answer: threading.Event = field(default_factory=threading.Event)

    def charge(self, **arguments):
        self.asked.set()
        assert self.may_answer.wait(30), "the test never let the provider answer"
        return super().charge(**arguments)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    engine = make_engine(migrated_database(tmp_path_factory, "writers-while-the-provider-waits"))
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture(scope="module")
def context() -> PaymentContext:
    return PaymentContext(gateway=StalledGateway(), supplier_name="Supplier", base_url="http://portal.test")


@pytest.fixture
def seeded(sessions, context):
    """A company with a saved card and an invoice of 250.00, and another company's invoice; committed."""
    context.gateway.asked.clear()
    context.gateway.may_answer.clear()
    with sessions() as session:
        make = Builders(session)
        company, other = make.company(), make.company()
        payer = make.user(company)
        invoice, elsewhere = make.invoice(company, total=TOTAL), make.invoice(other, total=TOTAL)
        session.commit()
        save_fake_card(session, context, context.gateway, company, payer)
    return company, payer, invoice, other, elsewhere


def erp_renames_the_po(sessions, company, invoice) -> None:
    """What an ERP's PUT does to another company's invoice: a write, committed."""
    with sessions() as session:
        begin_write(session)
        upsert_invoice(session, Actor(label="api:erp"), invoice.number, InvoiceData(
            company_ref=company.external_ref, issue_date=invoice.issue_date, due_date=invoice.due_date,
            currency=invoice.currency, po_number="PO-WHILE-THE-BANK-THINKS",
            lines=[LineInput(description="Services", quantity=Decimal(1), unit_amount=TOTAL, tax_rate=Decimal(0))]))
        session.commit()


@pytest.mark.parametrize("answer_lost", ["after_charging", "before_charging"],
                         ids=["500-after-the-work", "no-answer"])
def test_a_write_goes_through_while_the_provider_is_asked_and_an_unknown_outcome_stays_in_flight(
        sessions, context, seeded, answer_lost):
    company, payer, invoice, other, elsewhere = seeded
    gateway = context.gateway
    if answer_lost == "after_charging":
        gateway.fail_after_next_call(OutcomeUnknown("502 Bad Gateway after the charge was made"))
    else:
        gateway.fail_next_call(OutcomeUnknown("no answer within the timeout"))
    paid = {}

    def pay():
        with sessions() as session:
            paid["payment"] = pay_invoices(
                session, context, Actor.user(payer), company=session.merge(company, load=False), receipt_email=None,
                request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key=f"stalled-{answer_lost}"))

    paying = threading.Thread(target=pay, name="paying")
    paying.start()
    try:
        assert gateway.asked.wait(10), "the payment never asked the provider"
        writing = threading.Thread(target=erp_renames_the_po, args=(sessions, other, elsewhere), name="erp")
        writing.start()
        writing.join(timeout=10)
        assert not writing.is_alive(), "a write waited for the payment's call to the provider"
    finally:
        gateway.may_answer.set()
        paying.join(timeout=30)
    assert not paying.is_alive()

    payment = paid["payment"]
    assert payment.status == PaymentStatus.PROCESSING
    charged = [charge for charge in gateway.charges.values() if charge.metadata.get("payment_id") == str(payment.id)]
    assert len(charged) == (1 if answer_lost == "after_charging" else 0)
    with sessions() as session:
        assert session.scalar(select(InvoicePaymentClaim.payment_id).where(
            InvoicePaymentClaim.invoice_id == invoice.id)) == payment.id
        assert session.scalars(select(AuditEvent.action).where(AuditEvent.payment_id == payment.id)).all()[-1] \
            == "payment.outcome_unknown"
        assert session.get(Invoice, elsewhere.id).po_number == "PO-WHILE-THE-BANK-THINKS"
