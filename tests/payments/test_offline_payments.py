"""Bank transfers and cheques recorded by the collections team, and cancelled when recorded by mistake.

Through the service, on the test database: what is settled, what is refused (and that a
refusal writes nothing), the audit trail, and the journal the payment export makes of it.
"""

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.exports import ExportFilters, payment_csv
from portal.billing.history import invoice_timeline
from portal.models import AuditEvent, InvoicePaymentClaim, OfflineMethod, Payment, PaymentChannel, PaymentStatus
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import OutcomeUnknown
from portal.payments.offline import (
    MoneyReceived,
    OfflinePaymentRefused,
    cancel_money_received,
    invoices_open_for_receipt,
    record_money_received,
)
from tests.payments.conftest import save_fake_card

TODAY = date(2026, 11, 28)


@pytest.fixture
def staff(make):
    return Actor.user(make.staff())


@pytest.fixture
def company(make):
    return make.company()


def received(*shares, amount=None, reference="VIR-2026-0042", method=OfflineMethod.BANK_TRANSFER,
             on=TODAY - timedelta(days=1), currency="EUR", attempt_key="a" * 32) -> MoneyReceived:
    return MoneyReceived(method=method, reference=reference, received_on=on,
                         amount=sum(share for _, share in shares) if amount is None else amount, currency=currency,
                         shares=tuple((invoice.id, share) for invoice, share in shares), attempt_key=attempt_key)


def record(db, staff, company, entry: MoneyReceived) -> Payment:
    return record_money_received(db, staff, company=company, received=entry, today=TODAY)


def owed(db, *invoices) -> list[int]:
    for invoice in invoices:
        db.refresh(invoice)
    return [invoice.amount_due for invoice in invoices]


def payment_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Payment))


def actions(db, **where) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).filter_by(**where).order_by(AuditEvent.id)))


def test_a_transfer_split_over_two_invoices_settles_each_share_and_is_audited(db, make, staff, company):
    first, second = make.invoice(company, total=300_00), make.invoice(company, total=500_00)

    payment = record(db, staff, company, received((first, 300_00), (second, 200_00)))

    assert (payment.status, payment.channel, payment.amount, payment.currency) == (
        PaymentStatus.SUCCEEDED, PaymentChannel.OFFLINE, 500_00, "EUR")
    assert (payment.offline_method, payment.payer_reference, payment.received_on) == (
        OfflineMethod.BANK_TRANSFER, "VIR-2026-0042", TODAY - timedelta(days=1))
    assert payment.created_by_user_id == staff.user_id
    assert owed(db, first, second) == [0, 300_00]
    assert db.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0
    assert actions(db, payment_id=payment.id, invoice_id=None) == ["payment.succeeded", "payment.recorded_offline"]
    [recorded] = db.scalars(select(AuditEvent).where(AuditEvent.action == "payment.recorded_offline"))
    assert (recorded.actor_user_id, recorded.amount, recorded.details["reference"], recorded.details["method"]) == (
        staff.user_id, 500_00, "VIR-2026-0042", "bank_transfer")
    assert actions(db, invoice_id=second.id)[-1] == "payment.allocated"


def test_the_same_form_sent_twice_records_the_money_once(db, make, staff, company):
    invoice = make.invoice(company, total=300_00)

    once = record(db, staff, company, received((invoice, 100_00)))
    again = record(db, staff, company, received((invoice, 100_00)))

    assert again.id == once.id
    assert owed(db, invoice) == [200_00]


@pytest.mark.parametrize("entry, code, message", [
    (lambda a, b: received((a, 100_00), (b, 100_00), amount=250_00), "shares_do_not_add_up",
     "The invoices' shares add up to 200.00, not the 250.00 received."),
    (lambda a, b: received((a, 300_01)), "above_owed", "300.01 is more than the 300.00 still owed on invoice"),
    (lambda a, b: received((a, 300_00), (b, 600_00)), "above_owed",
     "600.00 is more than the 500.00 still owed on invoice"),
    (lambda a, b: received((a, 0)), "amount_not_positive", "Enter amounts greater than zero."),
    (lambda a, b: received(), "no_invoice", "Choose at least one invoice."),
    (lambda a, b: received((a, 100_00), (a, 100_00)), "invoice_twice", "Each invoice can be chosen once."),
    (lambda a, b: received((a, 100_00), reference="  "), "reference_required", "Enter the transfer's reference"),
    (lambda a, b: received((a, 100_00), on=TODAY + timedelta(days=1)), "received_in_future",
     "The date received cannot be in the future."),
    (lambda a, b: received((a, 100_00), currency="USD"), "wrong_currency", "is in EUR, not USD."),
], ids=["split-wrong", "above-owed", "one-share-above-owed", "zero", "no-invoice", "twice", "no-reference",
        "future", "currency"])
def test_a_wrong_entry_is_refused_with_why_and_records_nothing(db, make, staff, company, entry, code, message):
    first, second = make.invoice(company, total=300_00), make.invoice(company, total=500_00)
    before = payment_count(db)

    with pytest.raises(OfflinePaymentRefused) as refused:
        record(db, staff, company, entry(first, second))

    assert refused.value.code == code
    assert message in str(refused.value)
    assert payment_count(db) == before
    assert owed(db, first, second) == [300_00, 500_00]
    assert db.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0


def test_another_company_invoice_and_a_paid_or_void_one_are_refused(db, make, staff, company):
    theirs = make.invoice(make.company(), total=100_00)
    paid = make.invoice(company, total=100_00)
    make.payment(paid, 100_00)

    with pytest.raises(OfflinePaymentRefused) as not_ours:
        record(db, staff, company, received((theirs, 100_00)))
    with pytest.raises(OfflinePaymentRefused) as nothing_owed:
        record(db, staff, company, received((paid, 1_00), attempt_key="b" * 32))

    assert (not_ours.value.code, nothing_owed.value.code) == ("not_found", "nothing_owed")
    assert owed(db, theirs) == [100_00]


def test_a_transfer_is_refused_while_a_card_payment_of_the_invoice_is_in_flight(db, make, staff, company, context,
                                                                                gateway):
    payer = make.user(company)
    invoice = make.invoice(company, total=100_00)
    save_fake_card(db, context, gateway, company, payer)
    # The bank's answer never comes back: the card payment holds its claim until the provider says.
    gateway.fail_after_next_call(OutcomeUnknown("connection reset after sending"))
    card = pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=None,
                        request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key="card-1"))
    assert card.status == PaymentStatus.PROCESSING

    with pytest.raises(OfflinePaymentRefused) as refused:
        record(db, staff, company, received((invoice, 100_00)))

    assert refused.value.code == "payment_in_progress"
    assert db.get(InvoicePaymentClaim, invoice.id).payment_id == card.id
    assert db.scalars(select(Payment.channel).where(Payment.company_id == company.id)).all() == ["portal"]


def test_cancelling_a_transfer_recorded_by_mistake_restores_what_is_owed_and_keeps_the_trail(db, make, staff,
                                                                                              company):
    first, second = make.invoice(company, total=300_00), make.invoice(company, total=500_00)
    payment = record(db, staff, company, received((first, 300_00), (second, 200_00)))

    cancel_money_received(db, staff, payment_id=payment.id, reason="Recorded for the wrong customer")

    assert (payment.status, payment.cancel_reason, payment.cancelled_by_user_id) == (
        PaymentStatus.CANCELLED, "Recorded for the wrong customer", staff.user_id)
    assert payment.cancelled_at is not None
    assert owed(db, first, second) == [300_00, 500_00]
    [event] = [event for event in invoice_timeline(db, first) if event.action == "payment.cancelled"]
    assert (event.amount, event.details["reason"], event.actor_user_id) == (
        300_00, "Recorded for the wrong customer", staff.user_id)
    assert actions(db, payment_id=payment.id, invoice_id=None)[-1] == "payment.cancelled"
    # The invoices can be settled again, by the right transfer this time.
    record(db, staff, company, received((first, 300_00), attempt_key="c" * 32))
    assert owed(db, first) == [0]


def test_a_cancellation_needs_a_reason_and_only_a_recorded_transfer_can_be_cancelled(db, make, staff, company,
                                                                                     context, gateway):
    invoice = make.invoice(company, total=300_00)
    transfer = record(db, staff, company, received((invoice, 100_00)))
    payer = make.user(company)
    save_fake_card(db, context, gateway, company, payer)
    card = pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=None,
                        request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key="card-2"))

    with pytest.raises(OfflinePaymentRefused) as no_reason:
        cancel_money_received(db, staff, payment_id=transfer.id, reason="  ")
    with pytest.raises(OfflinePaymentRefused) as a_card:
        cancel_money_received(db, staff, payment_id=card.id, reason="Mistake")
    cancel_money_received(db, staff, payment_id=transfer.id, reason="Mistake")
    with pytest.raises(OfflinePaymentRefused) as twice:
        cancel_money_received(db, staff, payment_id=transfer.id, reason="Mistake again")

    assert (no_reason.value.code, a_card.value.code, twice.value.code) == (
        "reason_required", "not_cancellable", "not_cancellable")
    assert owed(db, invoice) == [100_00]
    assert actions(db, payment_id=transfer.id).count("payment.cancelled") == 2  # the payment and its one invoice


def test_the_invoices_open_for_a_transfer_are_those_owing_something_oldest_due_first(db, make, company):
    later = make.invoice(company, total=100_00, due_date=TODAY + timedelta(days=20))
    sooner = make.invoice(company, total=100_00, due_date=TODAY - timedelta(days=3))
    make.payment(make.invoice(company, total=100_00), 100_00)
    make.invoice(company, issue=False)
    make.invoice(make.company())

    assert invoices_open_for_receipt(db, company) == [sooner, later]


def test_the_payment_export_shows_a_cancelled_transfer_and_its_reversal_on_the_day_of_each(db, make, staff,
                                                                                           company):
    invoice = make.invoice(company, total=300_00, po_number="PO-7")
    payment = record(db, staff, company, received((invoice, 300_00), reference="CHQ 0012", method=OfflineMethod.CHEQUE))
    cancel_money_received(db, staff, payment_id=payment.id, reason="Cheque bounced")

    rows = list(csv.DictReader(io.StringIO("".join(payment_csv(db, ExportFilters(company_id=company.id))))))

    assert [(row["entry"], row["invoice_number"], row["allocated_amount"], row["reference"], row["method"],
             row["note"]) for row in rows] == [
        ("payment", invoice.number, "300.00", "CHQ 0012", "Cheque", ""),
        ("cancellation", invoice.number, "-300.00", "CHQ 0012", "Cheque", "Cheque bounced"),
    ]
    assert rows[1]["succeeded_at"] == payment.cancelled_at.isoformat()
