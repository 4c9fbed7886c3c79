"""What a payment becomes from what the provider reports, whichever way and however often it comes.

Late successes, charges of another amount, repeated and out-of-order reports, lost answers
and abandoned 3-D Secure, through the real payment services and the in-memory gateway.
"""

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.models import AuditEvent, InvoicePaymentClaim, Payment, PaymentAttention, PaymentStatus
from portal.models.types import utcnow
from portal.payments import fake_gateway
from portal.payments.charging import PaymentRequest, cancel_payment, pay_invoices
from portal.payments.errors import OutcomeUnknown, PaymentInProgress, PaymentNotAllowed
from portal.payments.gateway import ChargeStatus
from portal.payments.provider_events import check_payment, handle_webhook, reconcile
from portal.payments.queries import payments_needing_attention
from portal.payments.settlement import settle_from_provider
from tests.blueprints.pages import page, table_rows
from tests.payments.conftest import save_fake_card


@pytest.fixture
def company(make):
    return make.company(name="Late Payer SARL", locale="en")


@pytest.fixture
def payer(make, company):
    return make.user(company, locale="en")


def pay(db, context, payer, company, invoices, *, attempt="a1", amount=None, card=None):
    return pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=payer.email,
                        request=PaymentRequest(invoice_ids=tuple(invoice.id for invoice in invoices),
                                               attempt_key=attempt, amount=amount,
                                               card_id=card.id if card else None))


def fresh(db, row):
    db.refresh(row)
    return row


def the_charge(gateway):
    [charge] = gateway.charges.values()
    return charge


def deliver_webhook(db, context, gateway, reference) -> str:
    """Stripe posting what it knows of the charge `reference` now, applied as the webhook view does."""
    outcome = handle_webhook(db, context, *gateway.send_event(reference))
    db.commit()
    return outcome


def audit_count(db, payment, action) -> int:
    return db.scalar(select(func.count()).select_from(AuditEvent)
                     .where(AuditEvent.payment_id == payment.id, AuditEvent.action == action))


def claims(db) -> int:
    return db.scalar(select(func.count()).select_from(InvoicePaymentClaim))


def backdate(db, payment, by: timedelta) -> None:
    payment.created_at = utcnow() - by
    db.commit()


def lost_answer_payment(db, context, gateway, payer, company, invoices, **kwargs) -> Payment:
    """A payment charged at the provider whose answer never came back: processing here."""
    gateway.fail_after_next_call(OutcomeUnknown("connection reset after sending"))
    payment = pay(db, context, payer, company, invoices, **kwargs)
    assert (payment.status, payment.provider_reference) == (PaymentStatus.PROCESSING, None)
    return payment


@pytest.fixture
def failed_3ds_payment(db, context, gateway, make, company, payer):
    """A 3-D Secure payment of a 100.00 invoice recorded failed, whose charge the provider now reports succeeded.

    The cardholder failed 3-D Secure and the provider's payment_failed event failed the
    payment here; then they passed it on a second try in the bank's window, so the same
    charge ends succeeded and a success event is on its way.
    """
    save_fake_card(db, context, gateway, company, payer, fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=100_00)
    payment = pay(db, context, payer, company, [invoice], attempt="3ds")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    gateway.authenticate(payment.provider_reference, success=False)
    deliver_webhook(db, context, gateway, payment.provider_reference)
    assert fresh(db, payment).status == PaymentStatus.FAILED
    assert claims(db) == 0
    gateway.authenticate(payment.provider_reference, success=True)
    return payment


# --- A success reported after the payment was recorded failed -----------------------------------


def test_a_late_success_marks_the_failed_payment_succeeded_and_flags_it(db, context, gateway,
                                                                       failed_3ds_payment):
    payment = failed_3ds_payment

    assert deliver_webhook(db, context, gateway, payment.provider_reference) == "applied"

    payment = fresh(db, payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.attention == PaymentAttention.LATE_SUCCESS
    assert audit_count(db, payment, "payment.needs_attention") == 1


def test_a_late_success_settles_the_invoice_that_still_owed_it(db, context, gateway, failed_3ds_payment):
    payment = failed_3ds_payment
    [allocation] = payment.allocations

    deliver_webhook(db, context, gateway, payment.provider_reference)

    invoice = fresh(db, allocation.invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (100_00, 0)
    assert (payment.allocated_amount, payment.unallocated_amount) == (100_00, 0)
    assert claims(db) == 0


def test_a_late_success_for_an_invoice_paid_meanwhile_is_kept_as_an_unallocated_credit(db, context, gateway,
                                                                                      company, payer,
                                                                                      failed_3ds_payment):
    late = failed_3ds_payment
    invoice = late.allocations[0].invoice
    visa = save_fake_card(db, context, gateway, company, payer)
    assert pay(db, context, payer, company, [invoice], attempt="second", card=visa).status == PaymentStatus.SUCCEEDED

    deliver_webhook(db, context, gateway, late.provider_reference)

    late, invoice = fresh(db, late), fresh(db, invoice)
    assert late.status == PaymentStatus.SUCCEEDED
    assert late.allocations == []
    assert late.unallocated_amount == 100_00
    assert (invoice.amount_paid, invoice.amount_due) == (100_00, 0)
    assert late.attention == PaymentAttention.LATE_SUCCESS
    assert [payment.id for payment in payments_needing_attention(db)] == [late.id]


def test_a_late_success_for_an_invoice_part_paid_meanwhile_settles_only_what_is_still_owed(db, context, gateway,
                                                                                          make,
                                                                                          failed_3ds_payment):
    late = failed_3ds_payment
    invoice = late.allocations[0].invoice
    make.payment(invoice, 40_00)  # a bank transfer for part of it
    db.commit()

    deliver_webhook(db, context, gateway, late.provider_reference)

    late, invoice = fresh(db, late), fresh(db, invoice)
    assert [allocation.amount for allocation in late.allocations] == [60_00]
    assert late.unallocated_amount == 40_00
    assert (invoice.amount_paid, invoice.amount_due) == (100_00, 0)
    assert invoice.amount_paid <= invoice.amount_total
    assert late in payments_needing_attention(db)


def test_the_collections_attention_page_lists_a_late_success(db, context, gateway, make, login_as,
                                                            failed_3ds_payment):
    deliver_webhook(db, context, gateway, failed_3ds_payment.provider_reference)
    staff = login_as(make.staff(locale="en"))

    response = staff.get("/collections/attention")

    assert response.status_code == 200
    assert [row[1:] for row in table_rows(response, "payments")] == [
        # Customer, Why, Amount, Not settling any invoice
        ["Late Payer SARL", "Reported failed to the payer, then confirmed by the card processor", "€100.00", "€0.00"],
    ]
    [link] = page(response).find("table", class_="payments").find_all("a")
    assert link.attrs["href"] == f"/collections/payments/{failed_3ds_payment.id}"


# --- A charge of another amount or currency ------------------------------------------------------


@pytest.mark.parametrize(("taken_amount", "taken_currency"), [(99_99, "EUR"), (100_01, "EUR"), (100_00, "USD")],
                         ids=["less", "more", "other-currency"])
def test_a_charge_of_another_amount_or_currency_settles_nothing_and_records_what_was_taken(
        db, context, gateway, make, company, payer, taken_amount, taken_currency):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    payment = lost_answer_payment(db, context, gateway, payer, company, [invoice])
    charge = the_charge(gateway)
    gateway.charges[charge.reference] = dataclasses.replace(charge, amount=taken_amount, currency=taken_currency)

    deliver_webhook(db, context, gateway, charge.reference)

    payment, invoice = fresh(db, payment), fresh(db, invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (0, 100_00)
    assert (payment.status, payment.amount, payment.currency) == (PaymentStatus.SUCCEEDED, taken_amount,
                                                                  taken_currency)
    assert payment.allocations == []
    assert payment.unallocated_amount == taken_amount
    assert payment.attention == PaymentAttention.AMOUNT_MISMATCH
    assert claims(db) == 0


# --- Repeated and out-of-order reports -------------------------------------------------------


def test_the_same_success_reported_by_webhook_check_and_reconcile_settles_once(db, context, gateway, make, company,
                                                                             payer):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    payment = lost_answer_payment(db, context, gateway, payer, company, [invoice])
    reference = the_charge(gateway).reference

    deliver_webhook(db, context, gateway, reference)
    deliver_webhook(db, context, gateway, reference)  # a second event about the same charge
    check_payment(db, context, Actor.system("payer-page"), payment)
    reconcile(db, context)
    settle_from_provider(db, context, Actor.system("tests"), payment, gateway.retrieve_charge(reference))
    db.commit()

    assert fresh(db, payment).status == PaymentStatus.SUCCEEDED
    assert audit_count(db, payment, "payment.succeeded") == 1
    assert audit_count(db, payment, "payment.allocated") == 1
    assert fresh(db, invoice).amount_paid == 100_00
    assert payment.attention is None


def test_a_failure_reported_after_a_success_changes_nothing(db, context, gateway, make, company, payer):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    payment = pay(db, context, payer, company, [invoice])
    assert payment.status == PaymentStatus.SUCCEEDED
    charge = the_charge(gateway)
    gateway.charges[charge.reference] = dataclasses.replace(charge, status=ChargeStatus.FAILED,
                                                           failure_message="Your card was declined.")

    deliver_webhook(db, context, gateway, charge.reference)
    settle_from_provider(db, context, Actor.system("tests"), payment, gateway.charges[charge.reference])
    db.commit()

    payment, invoice = fresh(db, payment), fresh(db, invoice)
    assert (payment.status, payment.failure_message, payment.attention) == (PaymentStatus.SUCCEEDED, None, None)
    assert (invoice.amount_paid, invoice.amount_due) == (100_00, 0)
    assert audit_count(db, payment, "payment.failed") == 0


# --- An unknown outcome on paying ----------------------------------------------------------------


def test_a_charge_whose_answer_was_lost_keeps_the_invoice_claimed(db, context, gateway, make, company, payer):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)

    payment = lost_answer_payment(db, context, gateway, payer, company, [invoice])

    assert db.get(InvoicePaymentClaim, invoice.id).payment_id == payment.id
    assert fresh(db, invoice).amount_due == 100_00
    with pytest.raises(PaymentInProgress):
        pay(db, context, payer, company, [invoice], attempt="a2")
    assert len(gateway.charges) == 1


def test_reconcile_settles_a_charge_whose_answer_was_lost_and_the_invoice_cannot_be_paid_again(
        db, context, gateway, make, company, payer):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    payment = lost_answer_payment(db, context, gateway, payer, company, [invoice])

    report = reconcile(db, context)

    assert (report.checked, report.settled) == (1, 1)
    payment = fresh(db, payment)
    assert (payment.status, payment.provider_reference) == (PaymentStatus.SUCCEEDED, the_charge(gateway).reference)
    assert fresh(db, invoice).amount_due == 0
    assert claims(db) == 0
    with pytest.raises(PaymentNotAllowed, match="already paid"):
        pay(db, context, payer, company, [invoice], attempt="a3")
    assert len(gateway.charges) == 1


def test_a_charge_that_never_reached_the_provider_stays_in_flight_until_the_time_limit(db, context, gateway, make,
                                                                                     company, payer):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    gateway.fail_next_call(OutcomeUnknown("no route to the payment service"))
    payment = pay(db, context, payer, company, [invoice])
    assert gateway.charges == {}

    report = reconcile(db, context, now=payment.created_at + context.lost_after - timedelta(minutes=1))

    assert (report.checked, report.still_open) == (1, 1)
    assert fresh(db, payment).status == PaymentStatus.PROCESSING
    assert db.get(InvoicePaymentClaim, invoice.id) is not None


def test_a_charge_that_never_reached_the_provider_is_failed_after_the_time_limit_and_may_be_paid_again(
        db, context, gateway, make, company, payer):
    save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    gateway.fail_next_call(OutcomeUnknown("no route to the payment service"))
    payment = pay(db, context, payer, company, [invoice])

    report = reconcile(db, context, now=payment.created_at + context.lost_after + timedelta(minutes=1))

    assert (report.checked, report.failed) == (1, 1)
    assert fresh(db, payment).status == PaymentStatus.FAILED
    assert claims(db) == 0
    again = pay(db, context, payer, company, [invoice], attempt="a2")
    assert again.status == PaymentStatus.SUCCEEDED
    assert [charge.amount for charge in gateway.charges.values()] == [100_00]
    assert fresh(db, invoice).amount_due == 0


# --- Abandoned 3-D Secure -------------------------------------------------------------------------


@pytest.fixture
def waiting_3ds_payment(db, context, gateway, make, company, payer):
    """A 100.00 invoice whose 3-D Secure payment is still waiting for the cardholder."""
    save_fake_card(db, context, gateway, company, payer, fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=100_00)
    payment = pay(db, context, payer, company, [invoice], attempt="3ds")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    return payment


def test_reconcile_leaves_a_3d_secure_payment_waiting_within_the_time_limit(db, context, waiting_3ds_payment):
    backdate(db, waiting_3ds_payment, context.abandon_after - timedelta(minutes=1))

    assert reconcile(db, context).still_open == 1

    assert fresh(db, waiting_3ds_payment).status == PaymentStatus.REQUIRES_ACTION
    assert claims(db) == 1


def test_reconcile_cancels_a_3d_secure_payment_abandoned_too_long_and_frees_its_invoice(db, context, gateway,
                                                                                       waiting_3ds_payment):
    backdate(db, waiting_3ds_payment, context.abandon_after + timedelta(minutes=1))

    assert reconcile(db, context).failed == 1

    assert fresh(db, waiting_3ds_payment).status == PaymentStatus.FAILED
    assert gateway.charges[waiting_3ds_payment.provider_reference].status == ChargeStatus.FAILED
    assert claims(db) == 0


def test_a_new_attempt_frees_an_abandoned_3d_secure_payment_without_waiting_for_reconcile(db, context, gateway,
                                                                                         company, payer,
                                                                                         waiting_3ds_payment):
    invoice = waiting_3ds_payment.allocations[0].invoice
    visa = save_fake_card(db, context, gateway, company, payer)
    backdate(db, waiting_3ds_payment, context.abandon_after + timedelta(minutes=1))

    payment = pay(db, context, payer, company, [invoice], attempt="again", card=visa)

    assert payment.status == PaymentStatus.SUCCEEDED
    assert fresh(db, waiting_3ds_payment).status == PaymentStatus.FAILED
    assert gateway.charges[waiting_3ds_payment.provider_reference].status == ChargeStatus.FAILED
    assert fresh(db, invoice).amount_paid == 100_00
    assert claims(db) == 0


def test_a_new_attempt_is_refused_while_a_3d_secure_payment_is_within_the_time_limit(db, context, gateway, company,
                                                                                    payer, waiting_3ds_payment):
    invoice = waiting_3ds_payment.allocations[0].invoice
    visa = save_fake_card(db, context, gateway, company, payer)
    backdate(db, waiting_3ds_payment, context.abandon_after - timedelta(minutes=1))

    with pytest.raises(PaymentInProgress):
        pay(db, context, payer, company, [invoice], attempt="again", card=visa)

    assert fresh(db, waiting_3ds_payment).status == PaymentStatus.REQUIRES_ACTION
    assert len(gateway.charges) == 1
    assert db.get(InvoicePaymentClaim, invoice.id).payment_id == waiting_3ds_payment.id


def test_a_cancel_arriving_after_the_cardholder_finished_3d_secure_leaves_the_payment_succeeded(
        db, context, gateway, company, payer, waiting_3ds_payment):
    invoice = waiting_3ds_payment.allocations[0].invoice
    gateway.authenticate(waiting_3ds_payment.provider_reference, success=True)

    cancel_payment(db, context, Actor.user(payer), company=company, payment_id=waiting_3ds_payment.id)

    assert gateway.charges[waiting_3ds_payment.provider_reference].status == ChargeStatus.SUCCEEDED
    assert fresh(db, waiting_3ds_payment).status == PaymentStatus.SUCCEEDED
    assert fresh(db, invoice).amount_due == 0


def test_a_charge_carrying_our_key_but_made_for_another_database_settles_nothing(db, context, gateway, make,
                                                                                   company, payer):
    card = save_fake_card(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=100_00)
    gateway.fail_next_call(OutcomeUnknown("no route to the payment service"))
    payment = pay(db, context, payer, company, [invoice])
    # A staging copy sharing the Stripe account made a payment with the very same key.
    foreign = gateway.charge(customer_id=company.provider_customer_id, card_id=card.provider_id, amount=100_00,
                             currency="EUR", idempotency_key=payment.idempotency_key, off_session=False,
                             metadata={"payment_id": "424242", "payment_key": payment.idempotency_key,
                                       "company_ref": "STAGING-CUSTOMER"})

    report = reconcile(db, context)
    outcome = deliver_webhook(db, context, gateway, foreign.reference)

    assert (report.still_open, outcome) == (1, "ignored")
    assert (fresh(db, payment).status, payment.provider_reference) == (PaymentStatus.PROCESSING, None)
    assert fresh(db, invoice).amount_due == 100_00
