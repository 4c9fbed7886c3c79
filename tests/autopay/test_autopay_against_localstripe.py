"""The issue's autopay scenarios against localstripe, the e-mails read at a real SMTP server.

Each test enrols a company as its clerk does (a card saved through a SetupIntent at
localstripe, the mandate text accepted word for word), runs autopay on chosen days with the
app's own context (its real StripeGateway), delivers the outbox to an aiosmtpd server, and
then reads what counts where it lives: the PaymentIntents and charges localstripe holds for
the company's customer, the rows in the database, the e-mails the payer received.

The last tests kill a run at each point between claiming an invoice and recording its
charge (an exception no `except Exception` catches stands for SIGKILL: nothing after it is
written) and show the next runs finish the work with one charge, or none once autopay is
cancelled. tests/autopay/test_autopay_processes.py kills a real `acquit autopay run` too.

tests/autopay/test_run.py holds the same rules, faster, against the in-memory gateway.
"""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.autopay import run as autopay_run
from portal.autopay.enrolment import cancel
from portal.autopay.run import ORPHANED_AFTER, run_autopay
from portal.mail import outbox
from portal.models import (
    AutopayAttempt,
    AutopayAttemptStatus,
    InvoicePaymentClaim,
    Payment,
    PaymentChannel,
    PaymentStatus,
)
from portal.services import services_of
from tests.autopay.conftest import enrol_as_clerk
from tests.blueprints.conftest import set_language
from tests.payments.conftest import DECLINED_ON_CHARGE, NEEDS_AUTHENTICATION, VISA

DUE = date(2026, 12, 15)
ENROLLED_ON = DUE - timedelta(days=30)
PAY_NOW_LINK = re.compile(r"http://portal\.test/pay/\S+")


@pytest.fixture
def app_overrides(stripe_settings, smtp_server):
    return {**stripe_settings, **smtp_server.app_config, "ACQUIT_SUPPLIER_NAME": "Fournitures Durand"}


@pytest.fixture
def context(app):
    """Autopay's context as `acquit autopay run` has it from the app's config (retries after 1, 3, 7 days)."""
    return services_of(app).autopay


@pytest.fixture
def company(make):
    return make.company(name="Acme Industrie SAS", locale="en")


@pytest.fixture
def payer(make, company):
    return make.user(company, locale="en", email="compta@acme-industrie.test")


def enrolled_with(db, save_card, company, payer, number: str):
    card = save_card(company, payer, number)
    return enrol_as_clerk(db, payer, company, card, today=ENROLLED_ON)


def intents_at_localstripe(server, company) -> list[dict]:
    return server.payment_intents(customer=company.provider_customer_id)


def succeeded_charges(server, company) -> list[dict]:
    return server.succeeded_charges(customer=company.provider_customer_id)


def mail_to(app, db, smtp_server, address: str, subject: str) -> list:
    """Deliver the outbox to the SMTP server, then what it received for `address` whose subject has `subject`."""
    outbox.deliver(db, services_of(app).smtp)
    db.commit()
    return [mail for mail in smtp_server.messages
            if address in mail.recipients and subject in mail.message["Subject"]]


def claims_on(db, invoice) -> int:
    return db.scalar(select(func.count()).select_from(InvoicePaymentClaim)
                     .where(InvoicePaymentClaim.invoice_id == invoice.id))


def attempts_of(db, invoice) -> list[AutopayAttempt]:
    db.expire_all()
    return list(db.scalars(select(AutopayAttempt).where(AutopayAttempt.invoice_id == invoice.id)
                           .order_by(AutopayAttempt.attempt_number)))


def test_an_invoice_is_charged_once_on_its_due_date_and_the_receipt_arrives(
        app, db, make, context, save_card, stripe_server, smtp_server, company, payer):
    enrolled_with(db, save_card, company, payer, VISA)
    invoice = make.invoice(company, total=120_00, due_date=DUE)
    db.commit()

    the_day_before = run_autopay(db, context, as_of=DUE - timedelta(days=1))
    assert the_day_before.charged == 0
    assert intents_at_localstripe(stripe_server, company) == []

    on_the_day = run_autopay(db, context, as_of=DUE)
    assert (on_the_day.charged, on_the_day.errors) == (1, 0)
    [charge] = succeeded_charges(stripe_server, company)
    [intent] = intents_at_localstripe(stripe_server, company)
    assert (charge["amount"], charge["currency"], charge["payment_intent"]) == (120_00, "eur", intent["id"])
    assert intent["metadata"]["payment_key"] == f"autopay-{invoice.id}-1"
    payment = db.scalar(select(Payment).where(Payment.company_id == company.id))
    assert (payment.status, payment.channel, payment.amount, payment.provider_reference) == (
        PaymentStatus.SUCCEEDED, PaymentChannel.AUTOPAY, 120_00, intent["id"])
    db.refresh(invoice)
    assert invoice.amount_due == 0

    [receipt] = mail_to(app, db, smtp_server, payer.email, "Payment received")
    assert receipt.message["Subject"] == "Payment received: €120.00 — Fournitures Durand"
    body = receipt.text_body()
    assert f"- {invoice.number}: €120.00" in body
    assert f"Payment reference: {intent['id']}" in body
    assert f"http://portal.test/payments/{payment.id}" in body

    for day in (DUE, DUE + timedelta(days=1), DUE + timedelta(days=8)):
        again = run_autopay(db, context, as_of=day)
        assert (again.charged, again.declined, again.errors) == (0, 0, 0)
    assert len(intents_at_localstripe(stripe_server, company)) == 1
    assert len(succeeded_charges(stripe_server, company)) == 1
    assert len(mail_to(app, db, smtp_server, payer.email, "Payment received")) == 1


def test_a_declined_card_is_tried_on_day_d_d1_d3_d7_then_autopay_stops_and_says_how_to_pay(
        app, db, make, context, save_card, stripe_server, smtp_server, company, payer, login_as):
    enrolled_with(db, save_card, company, payer, DECLINED_ON_CHARGE)
    invoice = make.invoice(company, total=50_00, due_date=DUE)
    db.commit()

    tried_on = [day for day in (DUE + timedelta(days=n) for n in range(0, 31))
                if run_autopay(db, context, as_of=day).declined]

    assert tried_on == [DUE, DUE + timedelta(days=1), DUE + timedelta(days=3), DUE + timedelta(days=7)]
    # What reached localstripe: four attempts, each declined, each with its own key.
    intents = intents_at_localstripe(stripe_server, company)
    assert [intent["metadata"]["payment_key"] for intent in intents] == [
        f"autopay-{invoice.id}-{n}" for n in (1, 2, 3, 4)]
    charges = stripe_server.charges(customer=company.provider_customer_id)
    assert [(charge["status"], charge["amount"]) for charge in charges] == [("failed", 50_00)] * 4
    assert [(a.attempt_number, a.status, a.charge_date, a.next_try_on) for a in attempts_of(db, invoice)] == [
        (1, AutopayAttemptStatus.DECLINED, DUE, DUE + timedelta(days=1)),
        (2, AutopayAttemptStatus.DECLINED, DUE + timedelta(days=1), DUE + timedelta(days=3)),
        (3, AutopayAttemptStatus.DECLINED, DUE + timedelta(days=3), DUE + timedelta(days=7)),
        (4, AutopayAttemptStatus.DECLINED, DUE + timedelta(days=7), None),
    ]
    assert claims_on(db, invoice) == 0

    warnings = mail_to(app, db, smtp_server, payer.email, f"Autopay could not charge invoice {invoice.number}")
    assert len(warnings) == 4
    first, last = warnings[0].text_body(), warnings[-1].text_body()
    assert "Autopay could not charge €50.00 to the card Visa •••• 0341" in first
    assert "We will try again on" in first and "http://portal.test/autopay" in first
    assert "Autopay will not try this invoice again" in last
    pay_it = re.search(r"http://portal\.test(/payments/new\?invoice=\d+)", last)
    assert pay_it, last
    # The links work for the signed-in payer: another card for autopay, then paying that very invoice.
    client = login_as(payer)
    set_language(client, "en")
    autopay_page = client.get("/autopay")
    assert autopay_page.status_code == 200
    assert "Visa •••• 0341" in autopay_page.get_data(as_text=True)
    page = client.get(pay_it.group(1))
    assert page.status_code == 200
    assert invoice.number in page.get_data(as_text=True)


def test_a_disputed_invoice_is_skipped_and_nothing_reaches_localstripe(
        db, make, context, save_card, stripe_server, company, payer, dispute_context):
    enrolled_with(db, save_card, company, payer, VISA)
    invoice = make.invoice(company, total=80_00, due_date=DUE)
    make.dispute(dispute_context, invoice, payer)
    db.commit()

    report = run_autopay(db, context, as_of=DUE)
    later = run_autopay(db, context, as_of=DUE + timedelta(days=3))

    assert (report.charged, report.skipped, later.charged) == (0, 1, 0)
    [skip] = attempts_of(db, invoice)
    assert (skip.status, skip.reason, skip.payment_id) == (AutopayAttemptStatus.SKIPPED, "disputed", None)
    assert intents_at_localstripe(stripe_server, company) == []
    assert stripe_server.charges(customer=company.provider_customer_id) == []


def test_a_card_that_needs_3d_secure_is_not_charged_and_the_payer_gets_a_pay_now_link(
        app, db, make, client, context, save_card, stripe_server, smtp_server, company, payer):
    enrolled_with(db, save_card, company, payer, NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=75_00, due_date=DUE)
    db.commit()

    report = run_autopay(db, context, as_of=DUE)

    assert (report.needs_customer, report.charged, report.errors) == (1, 0, 0)
    # localstripe answered requires_action even off-session; the run cancelled that charge.
    [intent] = intents_at_localstripe(stripe_server, company)
    assert (intent["status"], intent["metadata"]["payment_key"]) == ("canceled", f"autopay-{invoice.id}-1")
    assert succeeded_charges(stripe_server, company) == []
    assert claims_on(db, invoice) == 0
    payment = db.scalar(select(Payment).where(Payment.company_id == company.id))
    assert (payment.status, payment.provider_reference) == (PaymentStatus.FAILED, intent["id"])
    [attempt] = attempts_of(db, invoice)
    assert (attempt.status, attempt.reason) == (AutopayAttemptStatus.NEEDS_CUSTOMER, "authentication_required")

    [mail] = mail_to(app, db, smtp_server, payer.email, "Your bank asks you to confirm")
    assert invoice.number in mail.message["Subject"]
    body = mail.text_body()
    assert "Nothing was charged." in body
    link = PAY_NOW_LINK.search(body).group(0)
    page = client.get(link.removeprefix("http://portal.test") + "?lang=en")
    assert page.status_code == 200
    assert f"Pay invoice {invoice.number}" in page.get_data(as_text=True)

    # Autopay leaves it to the payer: no charge on the following days either.
    for day in (DUE + timedelta(days=1), DUE + timedelta(days=3), DUE + timedelta(days=7)):
        assert run_autopay(db, context, as_of=day).needs_customer == 0
    assert len(intents_at_localstripe(stripe_server, company)) == 1


def backdate(db, by: timedelta) -> None:
    """Make every attempt and payment `by` older, as if that much time had passed since they were written."""
    for row in [*db.scalars(select(AutopayAttempt)), *db.scalars(select(Payment))]:
        row.created_at -= by
    db.commit()


class ProcessKilled(BaseException):
    """The run's process dies here (SIGKILL, power cut): no `except Exception` sees it, nothing more is written."""


def crash_after_claiming(monkeypatch, payments):
    def killed(*args, **kwargs):
        raise ProcessKilled()

    monkeypatch.setattr(autopay_run, "charge_invoices", killed)


def crash_before_the_charge_is_sent(monkeypatch, payments):
    def killed(**kwargs):
        raise ProcessKilled()

    monkeypatch.setattr(payments.gateway, "charge", killed)


def crash_after_the_charge_was_made(monkeypatch, payments):
    charge = payments.gateway.charge

    def killed(**kwargs):
        charge(**kwargs)
        raise ProcessKilled()

    monkeypatch.setattr(payments.gateway, "charge", killed)


@pytest.mark.parametrize(("crash", "charged_on_restart"), [
    # Claimed, no payment yet: a restart at once leaves it (that run may still be alive).
    (crash_after_claiming, 0),
    # The payment row is written, the charge never sent: localstripe has no record of it, so
    # it stays in flight until the payments' lost_after has passed, then is tried again.
    (crash_before_the_charge_is_sent, 0),
    # Charged, the answer never recorded: the restart finds the charge by its key at localstripe.
    (crash_after_the_charge_was_made, 1),
])
def test_a_run_that_dies_midway_is_finished_by_the_next_runs_without_a_second_charge(
        db, make, context, payments, save_card, stripe_server, company, payer, monkeypatch, crash,
        charged_on_restart):
    enrolled_with(db, save_card, company, payer, VISA)
    invoice = make.invoice(company, total=64_00, due_date=DUE)
    db.commit()
    with monkeypatch.context() as patched:
        crash(patched, payments)
        with pytest.raises(ProcessKilled):
            run_autopay(db, context, as_of=DUE)
    db.rollback()  # what the dead process had not committed is gone
    [attempt] = attempts_of(db, invoice)
    assert attempt.status == AutopayAttemptStatus.CLAIMED

    restarted = run_autopay(db, context, as_of=DUE)
    assert (restarted.charged, restarted.errors) == (charged_on_restart, 0)
    assert len(succeeded_charges(stripe_server, company)) == charged_on_restart

    # A quarter of an hour later (past ORPHANED_AFTER and the payments' lost_after), the next
    # run finishes whatever is left.
    later = timedelta(minutes=15)
    assert later > ORPHANED_AFTER and later > payments.lost_after
    backdate(db, later)
    finished = run_autopay(db, context, as_of=DUE)
    again = run_autopay(db, context, as_of=DUE + timedelta(days=1))

    assert (finished.charged, again.charged, finished.errors) == (1 - charged_on_restart, 0, 0)
    [charge] = succeeded_charges(stripe_server, company)
    assert charge["amount"] == 64_00
    db.refresh(invoice)
    assert invoice.amount_due == 0
    succeeded = db.scalars(select(Payment).where(Payment.company_id == company.id,
                                                 Payment.status == PaymentStatus.SUCCEEDED)).all()
    assert [(p.amount, p.provider_reference) for p in succeeded] == [(64_00, charge["payment_intent"])]
    assert attempts_of(db, invoice)[-1].status == AutopayAttemptStatus.SUCCEEDED
    assert claims_on(db, invoice) == 0


def test_a_claim_left_by_a_dead_run_is_not_charged_once_the_company_has_cancelled_autopay(
        db, make, context, payments, save_card, stripe_server, company, payer, monkeypatch):
    enrolled_with(db, save_card, company, payer, VISA)
    invoice = make.invoice(company, total=64_00, due_date=DUE)
    db.commit()
    with monkeypatch.context() as patched:
        crash_after_claiming(patched, payments)
        with pytest.raises(ProcessKilled):
            run_autopay(db, context, as_of=DUE)
    db.rollback()
    cancel(db, payer, company=company)
    db.commit()

    backdate(db, timedelta(minutes=15))
    report = run_autopay(db, context, as_of=DUE)

    assert (report.charged, report.errors) == (0, 0)
    assert intents_at_localstripe(stripe_server, company) == []
    [attempt] = attempts_of(db, invoice)
    assert attempt.status == AutopayAttemptStatus.SKIPPED
    assert claims_on(db, invoice) == 0
