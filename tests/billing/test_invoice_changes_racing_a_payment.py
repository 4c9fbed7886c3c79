"""A change of what an invoice owes, made while a card payment of it is starting: one waits for the other.

A card payment locks the invoice row and commits its claim on the invoice before it calls the
bank (portal/payments). Here that first transaction is held open while an ERP update, a void
or a credit note runs from another connection: the change must wait for it, then see the
claim and refuse, leaving the invoice as the payment was sized on. Real commits, on a
database of this module's own, on SQLite and on PostgreSQL (ACQUIT_TEST_DATABASE_URL) alike.
"""

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from portal.audit import Actor
from portal.billing.errors import InvoiceConflict
from portal.billing.invoices import LineInput, issue_credit_note, void_invoice
from portal.billing.sync import InvoiceData, upsert_invoice
from portal.db import begin_write, make_engine
from portal.models import Invoice, InvoicePaymentClaim, Payment, PaymentAllocation, PaymentStatus
from tests.builders import Builders
from tests.conftest import migrated_database

ERP = Actor(label="api:erp")
TOTAL = 10_000


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    engine = make_engine(migrated_database(tmp_path_factory, "invoice-changes-racing-a-payment"))
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def invoice(sessions) -> Invoice:
    """A committed invoice of one line of 100.00, tax 0 %."""
    with sessions() as session:
        make = Builders(session)
        invoice = make.invoice(make.company(), total=TOTAL)
        session.commit()
        session.refresh(invoice, ["company"])
        return invoice


def open_card_payment(session, invoice_id: int) -> None:
    """A card payment's first transaction, left open: the invoice locked, the payment and its claim written."""
    begin_write(session)
    invoice = session.scalars(select(Invoice).where(Invoice.id == invoice_id).with_for_update()).one()
    payment = Payment(company_id=invoice.company_id, amount=invoice.amount_due, currency=invoice.currency,
                      status=PaymentStatus.PROCESSING, idempotency_key=f"pay-race-{invoice.id}",
                      allocations=[PaymentAllocation(invoice_id=invoice.id, amount=invoice.amount_due)])
    session.add(payment)
    session.flush()
    session.add(InvoicePaymentClaim(invoice_id=invoice.id, payment_id=payment.id))
    session.flush()


def new_lines(session, invoice: Invoice) -> None:
    upsert_invoice(session, ERP, invoice.number, InvoiceData(
        company_ref=invoice.company.external_ref, issue_date=invoice.issue_date, due_date=invoice.due_date,
        currency=invoice.currency, po_number=invoice.po_number,
        lines=[LineInput(description="Services", quantity=Decimal(2), unit_amount=TOTAL, tax_rate=Decimal(0))]))


def new_po_number(session, invoice: Invoice) -> None:
    upsert_invoice(session, ERP, invoice.number, InvoiceData(
        company_ref=invoice.company.external_ref, issue_date=invoice.issue_date, due_date=invoice.due_date,
        currency=invoice.currency, po_number="PO-NEW",
        lines=[LineInput(description="Services", quantity=Decimal(1), unit_amount=TOTAL, tax_rate=Decimal(0))]))


def void(session, invoice: Invoice) -> None:
    void_invoice(session, ERP, session.get(Invoice, invoice.id), "issued twice")


def credit(session, invoice: Invoice) -> None:
    issue_credit_note(session, ERP, invoice=session.get(Invoice, invoice.id), number=f"CN-RACE-{invoice.id}",
                      amount=1_000, issue_date=date.today())


def change_while_a_payment_opens(sessions, invoice: Invoice, change) -> str:
    """Run `change` from its own connection while a payment's first transaction is open; how it ended."""
    ended = {}

    def attempt():
        with sessions() as session:
            # As every API request does: a transaction that will write takes SQLite's write lock first.
            begin_write(session)
            try:
                change(session, invoice)
                session.commit()
                ended["as"] = "changed"
            except InvoiceConflict as refused:
                session.rollback()
                ended["as"] = refused.code
            except Exception as error:  # reported, so the test says what went wrong
                session.rollback()
                ended["as"] = repr(error)

    with sessions() as paying:
        open_card_payment(paying, invoice.id)
        changing = threading.Thread(target=attempt, name="invoice-change")
        changing.start()
        changing.join(timeout=1)
        assert changing.is_alive(), f"the change did not wait for the payment's transaction: {ended}"
        paying.commit()
    changing.join(timeout=60)
    assert not changing.is_alive()
    return ended["as"]


def owed(sessions, invoice: Invoice) -> tuple:
    with sessions() as session:
        fresh = session.get(Invoice, invoice.id)
        return (fresh.amount_total, fresh.amount_credited, fresh.voided_at, [line.unit_amount for line in fresh.lines])


@pytest.mark.parametrize("change", [new_lines, void, credit], ids=["erp-new-lines", "void", "credit-note"])
def test_a_change_of_what_is_owed_waits_for_a_payment_starting_and_then_refuses(sessions, invoice, change):
    assert change_while_a_payment_opens(sessions, invoice, change) == "payment_in_progress"

    assert owed(sessions, invoice) == (TOTAL, 0, None, [TOTAL])


def test_a_change_of_terms_waits_for_a_payment_starting_and_then_goes_through(sessions, invoice):
    assert change_while_a_payment_opens(sessions, invoice, new_po_number) == "changed"

    with sessions() as session:
        assert session.get(Invoice, invoice.id).po_number == "PO-NEW"
    assert owed(sessions, invoice) == (TOTAL, 0, None, [TOTAL])
