"""The collections team's payments list: every company's payments, newest first, filtered and paged.

A payment's date is when it succeeded, or, until it has, when it was started; the list is
sorted and filtered on that one date, on the supplier's calendar.
"""

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from portal.billing.exports import csv_chunks
from portal.billing.money import to_decimal
from portal.collections.dashboard import payment_date, start_of_day
from portal.collections.pages import DEFAULT_PAGE_SIZE, Page, page_within
from portal.models import CARD_CHANNELS, Company, Payment, PaymentAllocation, PaymentChannel, RefundStatus

PAYMENT_LIST_COLUMNS = (
    "payment_id", "date", "company_ref", "company_name", "method", "channel", "reference", "status", "currency",
    "amount", "refunded", "invoices",
)


class PaymentMethod(enum.StrEnum):
    """How the money came: by card (on the portal, by a PAY NOW link or autopay), or recorded by staff."""

    CARD = "card"
    PORTAL = PaymentChannel.PORTAL.value
    GUEST = PaymentChannel.GUEST.value
    AUTOPAY = PaymentChannel.AUTOPAY.value
    OFFLINE = PaymentChannel.OFFLINE.value


@dataclass(frozen=True)
class PaymentQuery:
    date_from: date | None = None
    date_to: date | None = None
    company: str = ""  # part of the company's name or reference, any case
    company_id: int | None = None  # one company's payments only
    status: str | None = None  # a PaymentStatus
    method: PaymentMethod | None = None
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE


def payment_list(session: Session, query: PaymentQuery) -> Page[Payment]:
    """One page of payments matching `query`, newest first, with their company, invoices and refunds loaded."""
    statement = _matching(query)
    total_count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    page = page_within(query.page, total_count, query.per_page)
    payments = list(session.scalars(
        statement.options(selectinload(Payment.company),
                          selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice),
                          selectinload(Payment.refunds))
        .limit(query.per_page).offset((page - 1) * query.per_page)
    ))
    return Page(rows=payments, total_count=total_count, page=page, per_page=query.per_page)


def payment_list_csv(session: Session, query: PaymentQuery) -> Iterator[str]:
    """Every payment `payment_list` would page through, in the same order, one row each, as CSV chunks."""
    statement = _matching(query).options(
        selectinload(Payment.company), selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice),
        selectinload(Payment.refunds)).execution_options(yield_per=500)

    def rows():
        for payment in session.scalars(statement):
            refunded = sum(refund.amount for refund in payment.refunds if refund.status == RefundStatus.SUCCEEDED)
            yield (
                payment.id, (payment.succeeded_at or payment.created_at).isoformat(), payment.company.external_ref,
                payment.company.name, payment.method_summary, payment.channel, payment.reference or "",
                payment.status, payment.currency, to_decimal(payment.amount, payment.currency),
                to_decimal(refunded, payment.currency),
                " ".join(allocation.invoice.number for allocation in payment.allocations),
            )

    return csv_chunks(PAYMENT_LIST_COLUMNS, rows())


def _matching(query: PaymentQuery) -> Select:
    when = payment_date()
    statement = select(Payment)
    if query.date_from is not None:
        statement = statement.where(when >= start_of_day(query.date_from))
    if query.date_to is not None:
        statement = statement.where(when < start_of_day(query.date_to + timedelta(days=1)))
    needle = query.company.strip().lower()
    if needle:
        statement = statement.where(Payment.company_id.in_(
            select(Company.id).where(or_(func.lower(Company.name).contains(needle, autoescape=True),
                                         func.lower(Company.external_ref).contains(needle, autoescape=True)))))
    if query.company_id is not None:
        statement = statement.where(Payment.company_id == query.company_id)
    if query.status:
        statement = statement.where(Payment.status == query.status)
    if query.method == PaymentMethod.CARD:
        statement = statement.where(Payment.channel.in_([str(channel) for channel in CARD_CHANNELS]))
    elif query.method is not None:
        statement = statement.where(Payment.channel == query.method.value)
    return statement.order_by(when.desc(), Payment.id.desc())
