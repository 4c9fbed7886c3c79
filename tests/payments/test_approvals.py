"""The approval rule, against the in-memory gateway: above the threshold nothing is charged until a
second clerk approves; the preparer never approves their own payment."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.approvals import service as approvals
from portal.approvals.errors import ApprovalError
from portal.audit import Actor
from portal.billing.money import Money
from portal.models import (
    ApprovalStatus,
    AuditEvent,
    InvoicePaymentClaim,
    OutboxMessage,
    Payment,
    PaymentApproval,
    PaymentStatus,
    Role,
)
from portal.models.types import utcnow
from portal.payments import fake_gateway
from portal.payments.cards import remove_card
from portal.payments.charging import PaymentRequest
from tests.payments.conftest import save_fake_card

THRESHOLD = 100_000  # 1,000.00 EUR


@pytest.fixture
def company(make):
    return make.company(locale="en")


@pytest.fixture
def admin(make, company):
    return make.user(company, role=Role.ADMIN, email="admin@customer.test")


@pytest.fixture
def payer(make, company):
    return make.user(company, role=Role.PAYER, email="payer@customer.test")


@pytest.fixture
def rule(db, company, admin):
    return approvals.set_rule(db, admin, company=company, threshold=THRESHOLD, payers_may_approve=False)


@pytest.fixture
def card(db, context, gateway, company, payer):
    return save_fake_card(db, context, gateway, company, payer)


def submit(db, context, user, company, invoices, *, attempt="a1", amount=None, card=None):
    return approvals.submit_payment(
        db, context, user, company=company, receipt_email=user.email,
        request=PaymentRequest(invoice_ids=tuple(i.id for i in invoices), attempt_key=attempt, amount=amount,
                               card_id=card.id if card else None))


def charges(gateway) -> list[int]:
    return [charge.amount for charge in gateway.charges.values()]


def mail_to(db, address) -> list[OutboxMessage]:
    return [m for m in db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)) if m.recipients == [address]]


def test_below_the_threshold_one_click_pays(db, context, gateway, make, company, payer, rule, card):
    invoice = make.invoice(company, total=THRESHOLD)

    payment = submit(db, context, payer, company, [invoice])

    assert isinstance(payment, Payment) and payment.status == PaymentStatus.SUCCEEDED
    assert charges(gateway) == [THRESHOLD]
    assert db.scalar(select(func.count()).select_from(PaymentApproval)) == 0


def test_without_a_rule_any_amount_is_paid_at_once(db, context, gateway, make, company, payer, card):
    invoice = make.invoice(company, total=THRESHOLD * 50)

    assert submit(db, context, payer, company, [invoice]).status == PaymentStatus.SUCCEEDED


def test_above_the_threshold_nothing_is_charged_or_held_and_the_approvers_are_told(
        db, context, gateway, make, company, payer, admin, rule, card):
    invoices = [make.invoice(company, total=60_000, number="INV-1"), make.invoice(company, total=50_000, number="INV-2")]

    approval = submit(db, context, payer, company, invoices, card=card)

    assert isinstance(approval, PaymentApproval)
    assert (approval.status, approval.amount, approval.saved_card_id) == (ApprovalStatus.AWAITING, 110_000, card.id)
    assert approval.expires_at - approval.prepared_at == approvals.EXPIRES_AFTER
    assert charges(gateway) == []
    assert [invoice.amount_due for invoice in invoices] == [60_000, 50_000]
    assert db.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0
    [request_mail] = mail_to(db, admin.email)
    assert "waits for your approval" in request_mail.subject
    assert "INV-1" in request_mail.body_text and f"/approvals/{approval.id}" in request_mail.body_text
    assert mail_to(db, payer.email) == []


def test_the_same_page_submitted_twice_prepares_one_payment(db, context, make, company, payer, rule, card):
    invoice = make.invoice(company, total=THRESHOLD + 1)
    first = submit(db, context, payer, company, [invoice], attempt="same")
    second = submit(db, context, payer, company, [invoice], attempt="same")
    assert first.id == second.id


def test_the_preparer_cannot_approve_their_own_payment(db, context, gateway, make, company, admin, rule):
    # Even an admin: four eyes means a second person, whatever the first one's role.
    save_fake_card(db, context, gateway, company, admin)
    make.user(company, role=Role.ADMIN)
    approval = submit(db, context, admin, company, [make.invoice(company, total=THRESHOLD + 1)])

    with pytest.raises(ApprovalError) as refused:
        approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert refused.value.code == "own_payment"
    assert approval.status == ApprovalStatus.AWAITING
    assert charges(gateway) == []


@pytest.mark.parametrize("role", [Role.PAYER, Role.VIEWER])
def test_only_admins_approve_unless_the_rule_lets_payers(db, context, gateway, make, company, payer, rule, card, role):
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)])
    colleague = make.user(company, role=role)

    with pytest.raises(ApprovalError) as refused:
        approvals.approve(db, context, colleague, company=company, approval_id=approval.id)

    assert refused.value.code == "not_approver"
    assert charges(gateway) == []


def test_a_second_payer_approves_when_the_rule_allows_it(db, context, gateway, make, company, payer, admin, card):
    approvals.set_rule(db, admin, company=company, threshold=THRESHOLD, payers_may_approve=True)
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)])

    approvals.approve(db, context, make.user(company, role=Role.PAYER), company=company, approval_id=approval.id)

    assert charges(gateway) == [THRESHOLD + 1]


def test_a_second_clerk_approves_and_the_preparers_card_is_charged_once_with_both_names_audited(
        db, context, gateway, make, company, payer, admin, rule, card):
    other_card = save_fake_card(db, context, gateway, company, admin)
    invoice = make.invoice(company, total=150_000)
    approval = submit(db, context, payer, company, [invoice], card=card)

    approved = approvals.approve(db, context, admin, company=company, approval_id=approval.id)
    again = approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert approved.status == again.status == ApprovalStatus.APPROVED
    assert (approved.decided_by_user_id, approved.payment.status) == (admin.id, PaymentStatus.SUCCEEDED)
    assert approved.payment.saved_card_id == card.id != other_card.id
    assert charges(gateway) == [150_000]
    assert invoice.amount_due == 0
    events = {event.action: event for event in db.scalars(select(AuditEvent))}
    assert events["payment.approval_requested"].actor_label == payer.email
    assert events["payment.approved"].actor_label == admin.email
    assert events["payment.approved"].details["prepared_by"] == payer.email
    assert events["payment.approved"].details["approved_by"] == admin.email
    assert events["payment.started"].payment_id == approved.payment_id
    [decided] = mail_to(db, payer.email)[-1:]
    assert "was approved" in decided.subject and "The card was charged" in decided.body_text


def test_a_card_declined_on_approval_is_told_to_the_preparer_in_our_words_not_the_processors(
        db, context, gateway, make, company, payer, admin, rule):
    declined_card = save_fake_card(db, context, gateway, company, payer, fake_gateway.DECLINED_ON_CHARGE)
    invoice = make.invoice(company, total=150_000)
    approval = submit(db, context, payer, company, [invoice], card=declined_card)

    approved = approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert approved.payment.status == PaymentStatus.FAILED
    [decided] = mail_to(db, payer.email)[-1:]
    assert "But the card was not charged: The card was declined. Nothing was charged: try another card." in (
        decided.body_text)
    assert "Your card was declined" not in decided.body_text


def test_an_invoice_paid_meanwhile_ends_the_approval_uncharged_with_the_reason(
        db, context, gateway, make, company, payer, admin, rule, card):
    invoice = make.invoice(company, total=150_000)
    approval = submit(db, context, payer, company, [invoice])
    make.payment(invoice, 150_000)  # paid by bank transfer while it waited
    db.commit()

    approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert (approval.status, approval.payment_id) == (ApprovalStatus.NOT_CHARGED, None)
    assert (approval.refusal_code, approval.refusal_parameters) == ("invoice_already_paid", {"number": invoice.number})
    assert charges(gateway) == []
    assert db.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["payment.approved", "payment.approval_not_charged"]
    decided = mail_to(db, payer.email)[-1]
    assert "already paid" in decided.body_text and "Nothing was charged" in decided.body_text


def test_a_change_in_what_is_due_ends_the_approval_uncharged_rather_than_charge_another_figure(
        db, context, gateway, make, company, payer, admin, rule, card):
    invoice = make.invoice(company, total=150_000)
    approval = submit(db, context, payer, company, [invoice])
    make.payment(invoice, 10_000)
    db.commit()

    approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert (approval.status, approval.refusal_code) == (ApprovalStatus.NOT_CHARGED, "amounts_changed")
    assert charges(gateway) == []


def test_a_part_payment_above_what_is_now_due_keeps_the_sum_it_was_refused_for(
        db, context, gateway, make, company, payer, admin, rule, card):
    invoice = make.invoice(company, total=300_000, number="INV-PART")
    approval = submit(db, context, payer, company, [invoice], amount=200_000)
    make.payment(invoice, 150_000)
    db.commit()

    approvals.approve(db, context, admin, company=company, approval_id=approval.id)
    db.expire_all()

    assert (approval.status, approval.refusal_code) == (ApprovalStatus.NOT_CHARGED, "amount_above_payable")
    assert approval.refusal_parameters == {"amount": Money(150_000, "EUR"), "number": "INV-PART"}
    assert charges(gateway) == []
    assert "That is more than the €1,500.00 still due on invoice INV-PART. Nothing was charged." in (
        mail_to(db, payer.email)[-1].body_text)


def test_a_card_removed_while_waiting_ends_the_approval_uncharged_with_both_names_kept(
        db, context, gateway, make, company, payer, admin, rule, card):
    approval = submit(db, context, payer, company, [make.invoice(company, total=150_000)], card=card)
    remove_card(db, context, Actor.user(payer), company=company, card_id=card.id)
    db.commit()

    approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert (approval.status, approval.decided_by_user_id) == (ApprovalStatus.NOT_CHARGED, admin.id)
    assert (approval.refusal_code, approval.refusal_parameters) == ("payment_error", {})
    assert charges(gateway) == []
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["payment.approved", "payment.approval_not_charged"]
    assert "Nothing was charged" in mail_to(db, payer.email)[-1].body_text


def test_a_rejected_payment_is_never_charged_and_the_preparer_hears_why(
        db, context, gateway, make, company, payer, admin, rule, card):
    approval = submit(db, context, payer, company, [make.invoice(company, total=150_000)])

    approvals.reject(db, context, admin, company=company, approval_id=approval.id, note="Wrong supplier account")

    assert approval.status == ApprovalStatus.REJECTED
    with pytest.raises(ApprovalError):
        approvals.approve(db, context, make.user(company, role=Role.ADMIN), company=company, approval_id=approval.id)
    assert charges(gateway) == []
    decided = mail_to(db, payer.email)[-1]
    assert "was rejected" in decided.subject and "Wrong supplier account" in decided.body_text


def test_a_waiting_payment_expires_unpaid_and_is_then_refused(db, context, gateway, make, company, payer, admin,
                                                              rule, card):
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)])

    later = utcnow() + approvals.EXPIRES_AFTER + timedelta(minutes=1)
    expired = approvals.approve(db, context, admin, company=company, approval_id=approval.id, now=later)

    assert expired.status == ApprovalStatus.EXPIRED
    assert charges(gateway) == []
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.action == "payment.approval_expired"))
    assert "not approved in time" in mail_to(db, payer.email)[-1].subject
    with pytest.raises(ApprovalError) as refused:
        approvals.approve(db, context, admin, company=company, approval_id=approval.id)
    assert refused.value.code == "decided"


def test_overdue_payments_are_expired_by_the_sweep(db, context, make, company, payer, rule, card):
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)])
    assert approvals.expire_overdue(db, context) == 0
    assert approvals.expire_overdue(db, context, now=approval.expires_at) == 1
    assert approval.status == ApprovalStatus.EXPIRED


def test_a_payment_nobody_else_could_approve_is_refused_up_front(db, context, gateway, make, company, rule):
    lone_admin_company = make.company()
    admin = make.user(lone_admin_company, role=Role.ADMIN)
    approvals.set_rule(db, admin, company=lone_admin_company, threshold=THRESHOLD, payers_may_approve=False)
    save_fake_card(db, context, gateway, lone_admin_company, admin)

    with pytest.raises(ApprovalError) as refused:
        submit(db, context, admin, lone_admin_company, [make.invoice(lone_admin_company, total=THRESHOLD + 1)])
    assert refused.value.code == "no_approver"


def test_invoices_already_waiting_for_approval_are_not_prepared_twice(db, context, make, company, payer, rule, card):
    invoice = make.invoice(company, total=THRESHOLD + 1)
    submit(db, context, payer, company, [invoice], attempt="first")
    with pytest.raises(ApprovalError) as refused:
        submit(db, context, payer, company, [invoice], attempt="second")
    assert refused.value.code == "already_awaiting"


def test_a_part_payment_below_the_threshold_is_paid_at_once_and_above_it_waits(
        db, context, gateway, make, company, payer, admin, rule, card):
    invoice = make.invoice(company, total=300_000)
    assert submit(db, context, payer, company, [invoice], amount=THRESHOLD, attempt="part").status == "succeeded"

    approval = submit(db, context, payer, company, [invoice], amount=150_000, attempt="bigger part")
    approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert charges(gateway) == [THRESHOLD, 150_000]
    assert invoice.amount_due == 50_000


def test_an_amount_in_another_currency_than_the_threshold_waits(db, context, gateway, make, company, payer, rule, card):
    invoice = make.invoice(company, total=100, currency="USD")
    assert isinstance(submit(db, context, payer, company, [invoice]), PaymentApproval)
    assert charges(gateway) == []


def test_with_a_card_needing_3d_secure_the_approver_is_left_to_confirm_it(db, context, gateway, make, company, payer,
                                                                          admin, rule):
    card = save_fake_card(db, context, gateway, company, payer, number=fake_gateway.NEEDS_AUTHENTICATION)
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)], card=card)

    approved = approvals.approve(db, context, admin, company=company, approval_id=approval.id)

    assert approved.payment.status == PaymentStatus.REQUIRES_ACTION


def test_only_the_preparer_withdraws_and_nothing_is_charged(db, context, gateway, make, company, payer, admin,
                                                            rule, card):
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)])
    with pytest.raises(ApprovalError):
        approvals.withdraw(db, context, admin, company=company, approval_id=approval.id)

    approvals.withdraw(db, context, payer, company=company, approval_id=approval.id)

    assert approval.status == ApprovalStatus.WITHDRAWN
    with pytest.raises(ApprovalError) as refused:
        approvals.approve(db, context, admin, company=company, approval_id=approval.id)
    assert refused.value.code == "decided"
    assert charges(gateway) == []


def test_another_companys_approval_is_not_found(db, context, make, company, payer, rule, card):
    approval = submit(db, context, payer, company, [make.invoice(company, total=THRESHOLD + 1)])
    stranger_company = make.company()
    stranger = make.user(stranger_company, role=Role.ADMIN)
    with pytest.raises(ApprovalError) as refused:
        approvals.approve(db, context, stranger, company=stranger_company, approval_id=approval.id)
    assert refused.value.code == "not_found"


@pytest.mark.parametrize("role", [Role.PAYER, Role.VIEWER])
def test_only_admins_set_the_rule(db, make, company, role):
    with pytest.raises(ApprovalError):
        approvals.set_rule(db, make.user(company, role=role), company=company, threshold=1, payers_may_approve=False)


def test_setting_and_removing_the_rule_is_audited(db, company, admin):
    approvals.set_rule(db, admin, company=company, threshold=5_000, payers_may_approve=True)
    approvals.set_rule(db, admin, company=company, threshold=None, payers_may_approve=False)
    assert approvals.company_rule(db, company.id) is None
    assert db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()[-2:] == [
        "approval_rule.set", "approval_rule.removed"]
