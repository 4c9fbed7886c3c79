"""The autopay run's rules, quickly, against the in-memory gateway.

tests/autopay/test_autopay_against_localstripe.py proves the same against localstripe.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.approvals.service import set_rule
from portal.audit import Actor
from portal.autopay.enrolment import EnrolmentTerms, MandateContext, approve, enrol, mandate_text
from portal.autopay.errors import AutopayNotAllowed
from portal.autopay.run import AutopayContext, run_autopay
from portal.autopay.settings import AutopaySettings
from portal.guest.links import PayLinks
from portal.models import (
    AuditEvent,
    AutopayAttempt,
    AutopayAttemptStatus,
    AutopayStatus,
    OutboxMessage,
    Payment,
    PaymentStatus,
    Role,
)
from portal.payments import fake_gateway
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.context import PaymentContext
from portal.payments.errors import OutcomeUnknown
from portal.payments.fake_gateway import FakeGateway

DUE = date(2026, 12, 15)
ENROLLED_ON = DUE - timedelta(days=30)
SETTINGS = AutopaySettings(retry_days=(1, 3, 7), notice_days=3)


@pytest.fixture
def gateway():
    return FakeGateway()


@pytest.fixture
def context(gateway):
    payments = PaymentContext(gateway=gateway, supplier_name="Supplier", base_url="http://portal.test")
    return AutopayContext(payments=payments, settings=SETTINGS, links=PayLinks("secret", "http://portal.test"))


@pytest.fixture
def company(make):
    return make.company()


@pytest.fixture
def payer(make, company):
    return make.user(company)


def enrolled(db, context, gateway, company, payer, *, number=fake_gateway.SUCCEEDS, days_before_due=0,
             max_amount=None, on=ENROLLED_ON):
    setup = start_saving_card(db, context.payments, company=company, email=payer.email)
    gateway.complete_setup(setup.setup_id, number)
    card = finish_saving_card(db, context.payments, Actor.user(payer), company=company, setup_id=setup.setup_id)
    terms = EnrolmentTerms(card_id=card.id, days_before_due=days_before_due, max_amount=max_amount)
    mandate = MandateContext(supplier_name="Supplier", locale="en", settings=SETTINGS, today=on)
    enrolment = enrol(db, payer, company=company, terms=terms, accepted_text=mandate_text(db, company, terms, mandate),
                      ip_address="192.0.2.1", context=mandate)
    db.commit()
    return enrolment


def charges(gateway):
    return [charge for charge in gateway.charges.values() if charge.status == fake_gateway.ChargeStatus.SUCCEEDED]


def test_invoices_already_past_due_when_autopay_starts_are_never_charged(db, make, context, gateway, company, payer):
    late = make.invoice(company, total=300_00, due_date=DUE - timedelta(days=1))
    due_on_the_day = make.invoice(company, total=40_00, due_date=DUE)
    enrolment = enrolled(db, context, gateway, company, payer, on=DUE)

    reports = [run_autopay(db, context, as_of=DUE + timedelta(days=day)) for day in range(40)]

    assert enrolment.covers_from == DUE
    assert sum(report.charged for report in reports) == 1
    assert [charge.amount for charge in charges(gateway)] == [40_00]
    db.refresh(late), db.refresh(due_on_the_day)
    assert (late.amount_due, due_on_the_day.amount_due) == (300_00, 0)
    assert db.scalar(select(func.count()).select_from(AutopayAttempt).where(AutopayAttempt.invoice_id == late.id)) == 0


def test_the_mandate_names_the_first_due_date_it_covers(db, make, context, gateway, company, payer):
    enrolment = enrolled(db, context, gateway, company, payer, on=date(2026, 11, 28))

    assert "invoices falling due on or after November 28, 2026" in enrolment.mandate_text


def test_replacing_the_card_keeps_covering_what_the_first_enrolment_covered(db, make, context, gateway, company,
                                                                           payer):
    first = enrolled(db, context, gateway, company, payer, number=fake_gateway.DECLINED_ON_CHARGE, on=ENROLLED_ON)
    invoice = make.invoice(company, total=75_00, due_date=DUE)
    on_the_day = run_autopay(db, context, as_of=DUE)
    # A week after the declined due date the clerk enrols another card: the invoice stays autopay's to charge.
    replacement = enrolled(db, context, gateway, company, payer, on=DUE + timedelta(days=7))

    after = run_autopay(db, context, as_of=DUE + timedelta(days=7))

    assert replacement.covers_from == first.covers_from == ENROLLED_ON
    assert (on_the_day.declined, after.charged) == (1, 1)
    db.refresh(invoice)
    assert invoice.amount_due == 0


def test_an_invoice_is_charged_on_its_due_date_once(db, make, context, gateway, company, payer):
    enrolled(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=120_00, due_date=DUE)

    before = run_autopay(db, context, as_of=DUE - timedelta(days=1))
    on_the_day = run_autopay(db, context, as_of=DUE)
    again = run_autopay(db, context, as_of=DUE)

    assert (before.charged, on_the_day.charged, again.charged) == (0, 1, 0)
    assert [charge.amount for charge in charges(gateway)] == [120_00]
    db.refresh(invoice)
    assert invoice.amount_due == 0
    payment = db.scalar(select(Payment))
    assert (payment.channel, payment.status) == ("autopay", PaymentStatus.SUCCEEDED)


def test_a_declined_card_is_retried_on_schedule_then_autopay_stops_for_the_invoice(db, make, context, gateway,
                                                                                  company, payer):
    enrolled(db, context, gateway, company, payer, number=fake_gateway.DECLINED_ON_CHARGE)
    make.invoice(company, total=50_00, due_date=DUE)

    tried_on = [day for day in (DUE + timedelta(days=offset) for offset in range(0, 12))
                if run_autopay(db, context, as_of=day).declined]

    assert tried_on == [DUE, DUE + timedelta(days=1), DUE + timedelta(days=3), DUE + timedelta(days=7)]
    last = db.scalar(select(AutopayAttempt).order_by(AutopayAttempt.attempt_number.desc()).limit(1))
    assert (last.status, last.next_try_on) == (AutopayAttemptStatus.DECLINED, None)


@pytest.mark.parametrize(("locale", "reason"), [
    ("fr", "La carte a été refusée. Aucun montant n'a été débité : essayez une autre carte."),
    ("en", "The card was declined. Nothing was charged: try another card."),
])
def test_the_decline_e_mail_says_why_in_our_words_in_the_payers_language(db, make, context, gateway, locale, reason):
    company = make.company(locale=locale)
    payer = make.user(company)
    enrolled(db, context, gateway, company, payer, number=fake_gateway.DECLINED_ON_CHARGE)
    invoice = make.invoice(company, total=50_00, due_date=DUE)

    assert run_autopay(db, context, as_of=DUE).declined == 1

    [mail] = db.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains(invoice.number))).all()
    assert reason in mail.body_text
    # The provider's own English never reaches the payer.
    payment = db.scalar(select(Payment).where(Payment.status == PaymentStatus.FAILED))
    assert payment.failure_message not in mail.body_text


def test_a_card_that_needs_the_cardholder_gets_a_pay_now_link_and_is_not_retried(db, make, context, gateway,
                                                                                company, payer):
    enrolled(db, context, gateway, company, payer, number=fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=50_00, due_date=DUE)

    report = run_autopay(db, context, as_of=DUE)
    later = run_autopay(db, context, as_of=DUE + timedelta(days=2))

    assert (report.needs_customer, later.needs_customer, later.charged) == (1, 0, 0)
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains(invoice.number))).all()
    assert any("http://portal.test/pay/" in message.body_text for message in mail)
    assert db.scalar(select(func.count()).select_from(Payment).where(Payment.status == PaymentStatus.REQUIRES_ACTION)) == 0


def test_a_disputed_invoice_is_skipped_with_its_reason(db, make, context, gateway, company, payer, dispute_context):
    enrolled(db, context, gateway, company, payer)
    invoice = make.invoice(company, total=50_00, due_date=DUE)
    make.dispute(dispute_context, invoice, payer)
    db.commit()

    report = run_autopay(db, context, as_of=DUE)

    assert (report.charged, report.skipped) == (0, 1)
    skip = db.scalar(select(AutopayAttempt).where(AutopayAttempt.invoice_id == invoice.id))
    assert (skip.status, skip.reason) == (AutopayAttemptStatus.SKIPPED, "disputed")
    assert gateway.charges == {}


def test_an_expired_card_pauses_autopay(db, make, context, gateway, company, payer):
    enrolment = enrolled(db, context, gateway, company, payer)
    enrolment.card.exp_year, enrolment.card.exp_month = 2026, 11
    make.invoice(company, total=50_00, due_date=DUE)
    db.commit()

    report = run_autopay(db, context, as_of=DUE)

    db.refresh(enrolment)
    assert (report.paused, enrolment.status, enrolment.paused_reason) == (1, AutopayStatus.PAUSED, "expired_card")
    assert gateway.charges == {}


def test_a_cardholder_charge_whose_cancel_went_unanswered_still_sends_the_pay_now_link(db, make, context, gateway,
                                                                                      company, payer):
    enrolled(db, context, gateway, company, payer, number=fake_gateway.NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=50_00, due_date=DUE)
    # The charge waits for the cardholder; the run's cancel of it gets no answer.
    real_cancel = gateway.cancel_charge

    def unanswered_cancel(reference):
        real_cancel(reference)
        raise OutcomeUnknown("connection lost")

    gateway.cancel_charge = unanswered_cancel
    first = run_autopay(db, context, as_of=DUE)
    gateway.cancel_charge = real_cancel
    later = run_autopay(db, context, as_of=DUE + timedelta(days=1))

    assert (first.errors, later.needs_customer, later.declined) == (1, 1, 0)
    attempt = db.scalar(select(AutopayAttempt).where(AutopayAttempt.invoice_id == invoice.id))
    assert attempt.status == AutopayAttemptStatus.NEEDS_CUSTOMER
    mail = db.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains(invoice.number))).all()
    assert any("http://portal.test/pay/" in message.body_text for message in mail)


# --- The company's approval rule: autopay keeps to the same ceiling ------------------------------


def test_autopay_charges_nothing_above_the_companys_approval_threshold_until_a_second_clerk_approves(
        db, make, context, gateway, company, payer):
    admin = make.user(company, role=Role.ADMIN)
    set_rule(db, admin, company=company, threshold=1_000_00, payers_may_approve=False)
    small = make.invoice(company, total=1_000_00, due_date=DUE)
    large = make.invoice(company, total=1_000_01, due_date=DUE)
    enrolment = enrolled(db, context, gateway, company, payer)  # no maximum of its own

    run_autopay(db, context, as_of=DUE)
    assert [charge.amount for charge in charges(gateway)] == [1_000_00]

    # The payer who accepted the mandate is not the second clerk; an admin who did not accept it is.
    with pytest.raises(AutopayNotAllowed) as refused:
        approve(db, payer, company=company, invoice=large)
    assert refused.value.code == "needs_second_clerk"
    enrolment.accepted_by_user_id = admin.id  # even an admin cannot approve what they prepared
    with pytest.raises(AutopayNotAllowed):
        approve(db, admin, company=company, invoice=large)
    enrolment.accepted_by_user_id = payer.id
    approve(db, admin, company=company, invoice=large)
    db.commit()

    run_autopay(db, context, as_of=DUE + timedelta(days=1))
    assert [charge.amount for charge in charges(gateway)] == [1_000_00, 1_000_01]
    assert (small.amount_due, large.amount_due) == (0, 0)
    approved = db.scalar(select(AuditEvent).where(AuditEvent.action == "autopay.approved"))
    assert (approved.actor_label, approved.details["mandate_accepted_by"]) == (admin.email, payer.id)
