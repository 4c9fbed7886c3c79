"""Finding payments: a company's own, and every company's for the collections team."""

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.models import Payment, PaymentAllocation
from portal.payments.errors import PaymentNotAllowed


def company_payment(session: Session, company_id: int, payment_id: int) -> Payment:
    """One of the company's payments, or `PaymentNotAllowed` (never another company's)."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id, Payment.company_id == company_id))
    if payment is None:
        raise PaymentNotAllowed("No such payment.", code="not_found")
    return payment


def company_payments(session: Session, company_id: int, *, limit: int = 200) -> list[Payment]:
    """The company's card and bank payments, newest first, with the invoices they settle."""
    return list(session.scalars(
        select(Payment)
        .where(Payment.company_id == company_id)
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    ))


def payments_needing_attention(session: Session) -> list[Payment]:
    """Money the provider took that the ledger could not simply place, oldest first, for the collections team."""
    return list(session.scalars(
        select(Payment)
        .where(Payment.attention.is_not(None), Payment.attention_cleared_at.is_(None))
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice),
                 selectinload(Payment.company), selectinload(Payment.refunds))
        .order_by(Payment.created_at, Payment.id)
    ))


def payment_or_none(session: Session, payment_id: int) -> Payment | None:
    """Any company's payment, for the collections team."""
    return session.get(Payment, payment_id)
