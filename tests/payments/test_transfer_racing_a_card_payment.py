"""A bank transfer recorded while a card payment of the same invoice is being made: never both in full.

Staff record transfers through the claims and row locks card payments take
(portal.payments.offline). Here each side's transaction is held open while the other runs
from its own connection, and then both are fired at the same instant from many threads: the
invoice never receives more than it owes. Real commits, on a database of this module's own,
on SQLite and on PostgreSQL (ACQUIT_TEST_DATABASE_URL) alike; the card side is the in-memory
gateway, since what is proved here is the database's part.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from portal.audit import Actor
from portal.db import begin_write, make_engine
from portal.models import (
    Invoice,
    InvoicePaymentClaim,
    OfflineMethod,
    Payment,
    PaymentAllocation,
    PaymentChannel,
    PaymentStatus,
)
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.context import PaymentContext
from portal.payments.errors import OutcomeUnknown, PaymentInProgress, PaymentNotAllowed
from portal.payments.fake_gateway import FakeGateway
from portal.payments.offline import MoneyReceived, OfflinePaymentRefused, record_money_received
from tests.builders import Builders
from tests.conftest import migrated_database
from tests.payments.conftest import save_fake_card

TOTAL = 100_00
TODAY = date.today()
STAFF = Actor.system("collections-tests")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    engine = make_engine(migrated_database(tmp_path_factory, "transfer-racing-a-card-payment"))
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture(scope="module")
def context() -> PaymentContext:
    """One in-memory gateway for the module's database, so its customer ids never repeat there."""
    return PaymentContext(gateway=FakeGateway(), supplier_name="Supplier", base_url="http://portal.test")


@pytest.fixture
def seeded(sessions, context):
    """A company with a saved card and one committed invoice of 100.00."""
    with sessions() as session:
        make = Builders(session)
        company = make.company()
        payer = make.user(company)
        invoice = make.invoice(company, total=TOTAL)
        session.commit()
        save_fake_card(session, context, context.gateway, company, payer)
        return company, payer, invoice


def transfer(invoice: Invoice, amount: int, key: str) -> MoneyReceived:
    return MoneyReceived(method=OfflineMethod.BANK_TRANSFER, reference=f"VIR-{key}", received_on=TODAY,
                         amount=amount, currency="EUR", shares=((invoice.id, amount),), attempt_key=key)


def record_transfer(sessions, company, invoice, amount: int, key: str):
    """Record a transfer from a connection of its own; the payment, or the refusal's code."""
    with sessions() as session:
        try:
            payment = record_money_received(session, STAFF, company=session.merge(company, load=False),
                                            received=transfer(invoice, amount, key), today=TODAY)
            session.commit()
            return payment
        except OfflinePaymentRefused as refused:
            return refused.code


def pay_by_card(sessions, context, company, payer, invoice, key: str):
    with sessions() as session:
        try:
            return pay_invoices(session, context, Actor.user(payer), company=session.merge(company, load=False),
                                receipt_email=None,
                                request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key=key))
        except (PaymentInProgress, PaymentNotAllowed) as refused:
            return type(refused).__name__


def charged_amounts(context, company) -> list[int]:
    return [charge.amount for charge in context.gateway.charges.values()
            if charge.metadata.get("company_ref") == company.external_ref and charge.status == "succeeded"]


def in_thread(work) -> tuple[threading.Thread, dict]:
    ended = {}

    def run():
        try:
            ended["as"] = work()
        except Exception as error:  # reported, so the test says what went wrong
            ended["as"] = repr(error)

    thread = threading.Thread(target=run, name="racing")
    thread.start()
    return thread, ended


def received_on(sessions, invoice) -> tuple[int, int, list[tuple[str, int]]]:
    """The invoice's amount paid, its claims, and each succeeded payment's channel and share of it."""
    with sessions() as session:
        fresh = session.get(Invoice, invoice.id)
        shares = session.execute(
            select(Payment.channel, PaymentAllocation.amount)
            .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
            .where(PaymentAllocation.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED)
            .order_by(Payment.id)
        ).all()
        claims = session.scalar(select(func.count()).select_from(InvoicePaymentClaim)
                                .where(InvoicePaymentClaim.invoice_id == invoice.id))
        return fresh.amount_paid, claims, [tuple(share) for share in shares]


def test_a_transfer_is_refused_while_a_card_payment_whose_answer_was_lost_holds_the_invoice(sessions, context,
                                                                                          seeded):
    company, payer, invoice = seeded
    # The bank's answer is lost: the card payment stays in flight, holding its claim, until the provider says.
    context.gateway.fail_after_next_call(OutcomeUnknown("connection reset after sending"))
    card = pay_by_card(sessions, context, company, payer, invoice, "card-1")

    assert record_transfer(sessions, company, invoice, TOTAL, "t" * 32) == "payment_in_progress"
    assert card.status == PaymentStatus.PROCESSING
    assert received_on(sessions, invoice) == (0, 1, [])


def test_a_transfer_waits_for_a_card_payment_whose_first_transaction_is_open_then_is_refused(sessions, context,
                                                                                           seeded):
    company, payer, invoice = seeded
    with sessions() as paying:
        # The card payment's first transaction, as charging._open_payment leaves it before its commit.
        begin_write(paying)
        locked = paying.scalars(select(Invoice).where(Invoice.id == invoice.id).with_for_update()).one()
        payment = Payment(company_id=company.id, amount=TOTAL, currency="EUR", status=PaymentStatus.PROCESSING,
                          idempotency_key=f"pay-open-{invoice.id}",
                          allocations=[PaymentAllocation(invoice_id=locked.id, amount=TOTAL)])
        paying.add(payment)
        paying.flush()
        paying.add(InvoicePaymentClaim(invoice_id=invoice.id, payment_id=payment.id))
        paying.flush()
        recording, ended = in_thread(lambda: record_transfer(sessions, company, invoice, TOTAL, "u" * 32))
        recording.join(timeout=1)
        assert recording.is_alive(), f"the transfer did not wait for the card payment's transaction: {ended}"
        paying.commit()
    recording.join(timeout=60)

    assert ended["as"] == "payment_in_progress"
    assert received_on(sessions, invoice) == (0, 1, [])


@pytest.mark.parametrize("transferred, card_outcome, card_share", [
    (TOTAL, "PaymentNotAllowed", None),
    (60_00, PaymentStatus.SUCCEEDED, 40_00),
], ids=["whole-transfer", "part-transfer"])
def test_a_card_payment_waits_for_a_transfer_being_recorded_then_charges_only_what_is_left(
        sessions, context, seeded, transferred, card_outcome, card_share):
    company, payer, invoice = seeded
    with sessions() as recording:
        record_money_received(recording, STAFF, company=recording.merge(company, load=False),
                              received=transfer(invoice, transferred, "v" * 32), today=TODAY)
        card, ended = in_thread(lambda: pay_by_card(sessions, context, company, payer, invoice, "card-2"))
        card.join(timeout=1)
        assert card.is_alive(), f"the card payment did not wait for the transfer's transaction: {ended}"
        recording.commit()
    card.join(timeout=60)

    outcome = ended["as"]
    assert (outcome if isinstance(outcome, str) else outcome.status) == card_outcome
    expected = [(PaymentChannel.OFFLINE, transferred)] + ([(PaymentChannel.PORTAL, card_share)] if card_share else [])
    assert received_on(sessions, invoice) == (TOTAL, 0, expected)
    assert charged_amounts(context, company) == ([card_share] if card_share else [])


def test_transfers_and_card_payments_fired_at_once_never_settle_more_than_is_owed(sessions, context, seeded):
    company, payer, invoice = seeded
    racers = 8
    start = threading.Barrier(racers)

    def race(n: int):
        start.wait()
        if n % 2:
            return pay_by_card(sessions, context, company, payer, invoice, f"card-race-{n}")
        return record_transfer(sessions, company, invoice, TOTAL, f"{n:032x}")

    with ThreadPoolExecutor(racers) as pool:
        outcomes = list(pool.map(race, range(racers)))

    paid = [outcome for outcome in outcomes if isinstance(outcome, Payment)]
    assert [payment.status for payment in paid] == [PaymentStatus.SUCCEEDED], outcomes
    assert {outcome for outcome in outcomes if not isinstance(outcome, Payment)} <= {
        "payment_in_progress", "nothing_owed", "PaymentInProgress", "PaymentNotAllowed"}, outcomes
    amount_paid, claims, shares = received_on(sessions, invoice)
    assert (amount_paid, claims, [amount for _, amount in shares]) == (TOTAL, 0, [TOTAL])
    charged = charged_amounts(context, company)
    assert charged == ([TOTAL] if shares[0][0] == PaymentChannel.PORTAL else []), (shares, charged)
