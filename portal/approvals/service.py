"""Paying above the company's threshold: prepared by one clerk, charged once a second approves.

A payment waiting for approval claims nothing: its invoices stay free to be paid another
way, credited, voided or disputed while it waits (it expires after `EXPIRES_AFTER`).
Approving it charges the preparer's chosen card through the ordinary payment path
(`pay_invoices`), which takes the claims then and charges nothing unless what is due is
still exactly what was prepared. So an approver never pays twice, nor pays a figure nobody
prepared; if an invoice was paid meanwhile the approval ends "not charged", with the reason.

Every change of state writes an audit row naming the preparer and, once decided, the
approver. The approvers are e-mailed when a payment waits for them, the preparer when it is
decided.
"""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.approvals import rules
from portal.approvals.errors import ApprovalError
from portal.audit import Actor
from portal.mail import compose, outbox
from portal.models import (
    ApprovalRule,
    ApprovalStatus,
    Company,
    Payment,
    PaymentApproval,
    PaymentApprovalInvoice,
    User,
)
from portal.models.types import utcnow
from portal.payments.cards import company_card
from portal.payments.charging import PaymentRequest, amounts_to_charge, pay_invoices, payment_for_attempt
from portal.payments.context import PaymentContext
from portal.payments.errors import REFUSAL_REASONS, PaymentError

#: A payment not approved within this long expires: by then what it was prepared against is stale.
EXPIRES_AFTER = timedelta(days=7)


def company_rule(session: Session, company_id: int) -> ApprovalRule | None:
    return session.get(ApprovalRule, company_id)


def set_rule(session: Session, user: User, *, company: Company, threshold: int | None,
             payers_may_approve: bool) -> ApprovalRule | None:
    """Set the company's threshold (in its currency), or remove the rule with `threshold` None."""
    if not rules.may_set_rule(user, company.id):
        raise ApprovalError("Only the company's admins set the approval rule.", "not_allowed")
    if threshold is not None and threshold <= 0:
        raise ApprovalError("The threshold must be greater than zero.", "invalid_threshold")
    rule = company_rule(session, company.id)
    if threshold is None:
        if rule is not None:
            session.delete(rule)
            session.flush()
            audit.record(session, "approval_rule.removed", Actor.user(user), company_id=company.id)
        return None
    if rule is None:
        rule = ApprovalRule(company_id=company.id)
        session.add(rule)
    rule.threshold, rule.currency = threshold, company.currency
    rule.payers_may_approve, rule.updated_by_user_id = payers_may_approve, user.id
    audit.record(session, "approval_rule.set", Actor.user(user), company_id=company.id, amount=threshold,
                 currency=company.currency, payers_may_approve=payers_may_approve)
    return rule


def approvers(session: Session, company: Company, *, other_than: int | None = None) -> list[User]:
    """The company's clerks who may approve its payments (who have signed in at least once), but `other_than`."""
    rule = company_rule(session, company.id)
    clerks = session.scalars(
        select(User).where(User.company_id == company.id, User.is_active.is_(True), User.password_hash.is_not(None))
        .order_by(User.email))
    return [clerk for clerk in clerks if clerk.id != other_than and rules.may_approve(clerk, company.id, rule)]


def submit_payment(session: Session, context: PaymentContext, user: User, *, company: Company,
                   request: PaymentRequest, receipt_email: str | None,
                   now: datetime | None = None) -> Payment | PaymentApproval:
    """Pay `request` now if the company's rule lets this clerk alone, else prepare it for approval.

    `PaymentNotAllowed` (nothing is charged or prepared) as paying would raise it; `ApprovalError`
    if it needs approval and cannot wait for it.
    """
    existing = (_approval_by_key(session, _approval_key(company, request.attempt_key))
                or payment_for_attempt(session, company, request.attempt_key))
    if existing is not None:
        return existing  # the same page submitted again
    rule = company_rule(session, company.id)
    if rule is None:
        return pay_invoices(session, context, Actor.user(user), company=company, receipt_email=receipt_email,
                            request=request)
    invoices, amounts = amounts_to_charge(session, company, request)
    total, currency = sum(amounts), invoices[0].currency
    if not rules.needs_approval(rule, total, currency):
        # Paying takes the invoices' locks again in its own order (payment row, claims, then the
        # invoices): holding them into it deadlocks identical forms submitted at once on PostgreSQL.
        session.commit()
        # The rule said so for this total: the charge is refused if it has become another.
        return pay_invoices(session, context, Actor.user(user), company=company, receipt_email=receipt_email,
                            request=PaymentRequest(invoice_ids=request.invoice_ids, attempt_key=request.attempt_key,
                                                   amount=request.amount, card_id=request.card_id,
                                                   expected_total=total))
    return _prepare(session, context, user, company=company, request=request, invoices=invoices, amounts=amounts,
                    now=now or utcnow())


def _prepare(session, context, user, *, company, request, invoices, amounts, now) -> PaymentApproval:
    if not rules.may_prepare(user, company.id):
        raise ApprovalError("Only the company's admins and payers prepare payments.", "not_allowed")
    card = company_card(session, company, request.card_id)
    waiting = _awaiting_for_invoices(session, company.id, [invoice.id for invoice in invoices], now)
    if waiting is not None and waiting.idempotency_key == _approval_key(company, request.attempt_key):
        # The same page submitted twice at once: the other submission prepared it while this one
        # waited for the invoices' locks. It is this one's answer, as for paying.
        return waiting
    if waiting is not None:
        raise ApprovalError(f"A payment of these invoices already waits for approval (#{waiting.id}).",
                            "already_awaiting")
    colleagues = approvers(session, company, other_than=user.id)
    if not colleagues:
        raise ApprovalError("Nobody else in the company may approve this payment.", "no_approver")
    approval = PaymentApproval(
        company_id=company.id, idempotency_key=_approval_key(company, request.attempt_key), amount=sum(amounts),
        currency=invoices[0].currency, part_amount=request.amount, saved_card_id=card.id,
        status=ApprovalStatus.AWAITING, prepared_by_user_id=user.id, prepared_at=now, expires_at=now + EXPIRES_AFTER,
        invoices=[PaymentApprovalInvoice(invoice_id=invoice.id, amount=amount)
                  for invoice, amount in zip(invoices, amounts)],
    )
    session.add(approval)
    session.flush()
    audit.record(session, "payment.approval_requested", Actor.user(user), company_id=company.id,
                 amount=approval.amount, currency=approval.currency, approval_id=approval.id,
                 prepared_by=user.email, invoices=[invoice.number for invoice in invoices])
    for approver in colleagues:
        _mail(session, context, "approval_requested", approver, approval, invoices=invoices)
    return approval


def approve(session: Session, context: PaymentContext, user: User, *, company: Company, approval_id: int,
            now: datetime | None = None) -> PaymentApproval:
    """Approve a waiting payment and charge it; returns it, with its payment in whatever state the charge reached.

    The approval is committed, audited with both names, before the card is charged. If the
    charge is refused before it is made (an invoice paid meanwhile, what is due changed, the
    card removed) it ends `NOT_CHARGED`, with the reason, and nothing is charged. An expired
    one is marked so and returned uncharged.
    """
    approval = company_approval(session, company.id, approval_id)
    if approval.status == ApprovalStatus.APPROVED:
        return approval  # approved already (a second click, a second tab)
    _check_decidable(session, context, user, approval, now or utcnow())
    if approval.status == ApprovalStatus.EXPIRED:
        return approval
    approval.status, approval.decided_by_user_id, approval.decided_at = ApprovalStatus.APPROVED, user.id, utcnow()
    audit.record(session, "payment.approved", Actor.user(user), company_id=company.id, amount=approval.amount,
                 currency=approval.currency, approval_id=approval.id, prepared_by=approval.prepared_by.email,
                 approved_by=user.email)
    request = PaymentRequest(invoice_ids=approval.invoice_ids, attempt_key=f"approval-{approval.id}",
                             amount=approval.part_amount, card_id=approval.saved_card_id,
                             expected_total=approval.amount)
    # The decision stands whatever the charge does: committed before the card is charged, as the
    # payment row is (see portal.payments.charging).
    session.commit()
    try:
        payment = pay_invoices(session, context, Actor.user(user), company=company, request=request,
                               receipt_email=approval.prepared_by.email)
    except PaymentError as refused:
        session.rollback()
        approval.status = ApprovalStatus.NOT_CHARGED
        if refused.code in REFUSAL_REASONS:
            approval.record_refusal(refused.code, refused.params)
        else:  # one its readers have no words for (a card no longer found) reads as "the payment was not made"
            approval.record_refusal("payment_error", {})
        audit.record(session, "payment.approval_not_charged", Actor.user(user), company_id=company.id,
                     amount=approval.amount, currency=approval.currency, approval_id=approval.id,
                     prepared_by=approval.prepared_by.email, approved_by=user.email, reason=str(refused),
                     code=refused.code)
        _mail(session, context, "approval_decided", approval.prepared_by, approval, payment=None)
        return approval
    approval.payment_id = payment.id
    _mail(session, context, "approval_decided", approval.prepared_by, approval, payment=payment)
    return approval


def reject(session: Session, context: PaymentContext, user: User, *, company: Company, approval_id: int,
           note: str, now: datetime | None = None) -> PaymentApproval:
    """Refuse a waiting payment: nothing is charged; the preparer is told why."""
    approval = company_approval(session, company.id, approval_id)
    _check_decidable(session, context, user, approval, now or utcnow())
    if approval.status == ApprovalStatus.EXPIRED:
        return approval
    _decide(session, context, user, approval, ApprovalStatus.REJECTED, action="payment.approval_rejected",
            note=note.strip() or None)
    return approval


def withdraw(session: Session, context: PaymentContext, user: User, *, company: Company,
             approval_id: int) -> PaymentApproval:
    """The preparer takes back a payment still waiting: nothing is charged."""
    approval = company_approval(session, company.id, approval_id)
    if approval.prepared_by_user_id != user.id:
        raise ApprovalError("Only the clerk who prepared a payment withdraws it.", "not_preparer")
    if approval.status != ApprovalStatus.AWAITING:
        raise ApprovalError("This payment is no longer waiting for approval.", "decided")
    _decide(session, context, user, approval, ApprovalStatus.WITHDRAWN, action="payment.approval_withdrawn")
    return approval


def expire_overdue(session: Session, context: PaymentContext, *, now: datetime | None = None) -> int:
    """Mark every payment left waiting past its expiry as expired (telling its preparer); returns how many."""
    overdue = session.scalars(select(PaymentApproval).where(
        PaymentApproval.status == ApprovalStatus.AWAITING, PaymentApproval.expires_at <= (now or utcnow()))).all()
    for approval in overdue:
        _expire(session, context, approval)
    return len(overdue)


def _check_decidable(session, context, user, approval, now) -> None:
    if approval.status == ApprovalStatus.AWAITING and approval.is_expired(now):
        _expire(session, context, approval)
        return
    if approval.status != ApprovalStatus.AWAITING:
        raise ApprovalError("This payment is no longer waiting for approval.", "decided")
    if approval.prepared_by_user_id == user.id:
        raise ApprovalError("A payment cannot be approved by the clerk who prepared it.", "own_payment")
    if not rules.may_approve(user, approval.company_id, company_rule(session, approval.company_id)):
        raise ApprovalError("Only the company's admins (or payers, if the rule allows) approve payments.",
                            "not_approver")


def _expire(session, context, approval) -> None:
    _decide(session, context, Actor.system("approvals"), approval, ApprovalStatus.EXPIRED,
            action="payment.approval_expired")


def _decide(session, context, who: User | Actor, approval: PaymentApproval, status: ApprovalStatus, *,
            action: str, note: str | None = None) -> None:
    actor = who if isinstance(who, Actor) else Actor.user(who)
    approval.status, approval.decided_at, approval.note = status, utcnow(), note
    approval.decided_by_user_id = actor.user_id
    audit.record(session, action, actor, company_id=approval.company_id, amount=approval.amount,
                 currency=approval.currency, approval_id=approval.id, prepared_by=approval.prepared_by.email,
                 decided_by=actor.label, note=note)
    if approval.prepared_by_user_id != actor.user_id:
        _mail(session, context, "approval_decided", approval.prepared_by, approval, payment=None)


def _mail(session, context, template: str, recipient: User, approval: PaymentApproval, **extra) -> None:
    company = approval.company
    outbox.enqueue(session, [recipient.email], compose.render(
        template, compose.company_locale(company, recipient.locale), approval=approval, company=company, recipient=recipient,
        invoices=extra.pop("invoices", None) or [line.invoice for line in approval.invoices],
        approval_url=f"{context.base_url}/approvals/{approval.id}", supplier_name=context.supplier_name, **extra))


# Finding approvals -----------------------------------------------------------------------


def company_approval(session: Session, company_id: int, approval_id: int) -> PaymentApproval:
    """One of the company's payments prepared for approval (never another company's), or `ApprovalError`."""
    approval = session.scalar(select(PaymentApproval).where(PaymentApproval.id == approval_id,
                                                            PaymentApproval.company_id == company_id))
    if approval is None:
        raise ApprovalError("No such payment waiting for approval.", "not_found")
    return approval


def company_approvals(session: Session, company_id: int, *, limit: int = 100) -> list[PaymentApproval]:
    """The company's prepared payments, those still waiting first, then the newest."""
    return list(session.scalars(
        select(PaymentApproval).where(PaymentApproval.company_id == company_id)
        .options(selectinload(PaymentApproval.invoices).selectinload(PaymentApprovalInvoice.invoice),
                 selectinload(PaymentApproval.prepared_by), selectinload(PaymentApproval.decided_by),
                 selectinload(PaymentApproval.payment))
        .order_by((PaymentApproval.status == ApprovalStatus.AWAITING).desc(), PaymentApproval.prepared_at.desc(),
                  PaymentApproval.id.desc())
        .limit(limit)
    ))


def _awaiting_for_invoices(session, company_id: int, invoice_ids: list[int], now: datetime) -> PaymentApproval | None:
    return session.scalar(
        select(PaymentApproval).join(PaymentApprovalInvoice)
        .where(PaymentApproval.company_id == company_id, PaymentApproval.status == ApprovalStatus.AWAITING,
               PaymentApproval.expires_at > now, PaymentApproval.id == PaymentApprovalInvoice.approval_id,
               PaymentApprovalInvoice.invoice_id.in_(invoice_ids))
        .limit(1))


def _approval_key(company: Company, attempt_key: str) -> str:
    return f"approval-{company.id}-{attempt_key}"


def _approval_by_key(session: Session, key: str) -> PaymentApproval | None:
    return session.scalar(select(PaymentApproval).where(PaymentApproval.idempotency_key == key))
