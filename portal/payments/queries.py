"""Finding payments: a company's own, and every company's for the collections team."""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from portal.models import Payment, PaymentAllocation
from portal.payments.errors import PaymentNotAllowed


def company_payment(session: Session, company_id: int, payment_id: int) -> Payment:
    """One of the company's payments, or `PaymentNotAllowed` (never another company's)."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id, Payment.company_id == company_id))
    if payment is None:
        raise PaymentNotAllowed("No such payment.", code="not_found")
    return payment


PAYMENTS_PER_PAGE = 25


@dataclass(frozen=True)
class PaymentsPage:
    payments: list[Payment]
    total_count: int
    page: int
    per_page: int

    @property
    def page_count(self) -> int:
        return max(1, -(-self.total_count // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.page_count


def company_payments(session: Session, company_id: int, *, limit: int = 200) -> list[Payment]:
    """The company's latest card and bank payments, newest first, with the invoices they settle."""
    return company_payments_page(session, company_id, per_page=limit).payments


def company_payments_page(session: Session, company_id: int, *, page: int = 1,
                          per_page: int = PAYMENTS_PER_PAGE) -> PaymentsPage:
    """One page of the company's card and bank payments, newest first, with the invoices they settle."""
    scoped = select(Payment).where(Payment.company_id == company_id)
    total_count = session.execute(select(func.count()).select_from(scoped.subquery())).scalar_one()
    page = min(max(page, 1), max(1, -(-total_count // per_page)))
    payments = list(session.scalars(
        scoped
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ))
    return PaymentsPage(payments=payments, total_count=total_count, page=page, per_page=per_page)


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
