"""The supplier-wide reads behind the API: any company's invoices, and payments since a time.

Unlike `history`, these are not scoped to one customer: only the supplier's own systems,
holding an API key, reach them.
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session, selectinload

from portal.billing.errors import InvoiceNotFound
from portal.billing.status import InvoiceStatus, status_expression
from portal.db import MAX_ROW_ID
from portal.models import Company, Invoice, Payment, PaymentAllocation, PaymentStatus


class InvalidCursor(ValueError):
    """A pagination cursor this API did not issue."""


def invoice_by_number(session: Session, number: str) -> Invoice:
    invoice = session.scalar(select(Invoice).where(Invoice.number == number))
    if invoice is None:
        raise InvoiceNotFound(f"no invoice numbered {number!r}")
    return invoice


def company_by_ref(session: Session, ref: str) -> Company:
    company = session.scalar(select(Company).where(Company.external_ref == ref))
    if company is None:
        raise InvoiceNotFound(f"no company has the reference {ref!r}")
    return company


@dataclass(frozen=True)
class InvoiceFilters:
    company_ref: str | None = None
    status: InvoiceStatus | None = None
    po_number: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    issued_from: date | None = None
    issued_to: date | None = None


def list_invoices(
    session: Session, filters: InvoiceFilters, *, after: list | None, limit: int, today: date
) -> tuple[list[Invoice], list | None]:
    """A page of invoices in creation order after the cursor `after`; and the next cursor."""
    # Each invoice's status reads its disputes: loaded with the page, not one query per invoice.
    statement = (select(Invoice).options(selectinload(Invoice.company), selectinload(Invoice.disputes))
                 .order_by(Invoice.id).limit(limit + 1))
    if after is not None:
        if len(after) != 1 or not _is_row_id(after[0]):
            raise InvalidCursor()
        statement = statement.where(Invoice.id > after[0])
    if filters.company_ref:
        statement = statement.join(Company, Company.id == Invoice.company_id).where(
            Company.external_ref == filters.company_ref
        )
    if filters.status is not None:
        statement = statement.where(status_expression(today) == filters.status.value)
    if filters.po_number:
        statement = statement.where(Invoice.po_number == filters.po_number)
    for column, bound, is_lower in (
        (Invoice.due_date, filters.due_from, True), (Invoice.due_date, filters.due_to, False),
        (Invoice.issue_date, filters.issued_from, True), (Invoice.issue_date, filters.issued_to, False),
    ):
        if bound is not None:
            statement = statement.where(column >= bound if is_lower else column <= bound)
    invoices = list(session.scalars(statement))
    if len(invoices) > limit:
        return invoices[:limit], [invoices[limit - 1].id]
    return invoices, None


def list_payments(
    session: Session, *, since: datetime | None, after: list | None, limit: int
) -> tuple[list[Payment], list | None]:
    """Succeeded payments in the order they succeeded, with allocations; and the next cursor."""
    statement = (
        select(Payment)
        .where(Payment.status == PaymentStatus.SUCCEEDED)
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice),
                 selectinload(Payment.company))
        .order_by(Payment.succeeded_at, Payment.id)
        .limit(limit + 1)
    )
    if since is not None:
        statement = statement.where(Payment.succeeded_at >= since)
    if after is not None:
        if len(after) != 2 or not isinstance(after[0], str) or not _is_row_id(after[1]):
            raise InvalidCursor()
        try:
            succeeded_at, payment_id = datetime.fromisoformat(after[0]), after[1]
        except ValueError:
            raise InvalidCursor() from None
        if succeeded_at.tzinfo is None:
            raise InvalidCursor()
        statement = statement.where(tuple_(Payment.succeeded_at, Payment.id) > tuple_(succeeded_at, payment_id))
    payments = list(session.scalars(statement))
    if len(payments) > limit:
        last = payments[limit - 1]
        assert last.succeeded_at is not None, "a succeeded payment has its time"
        return payments[:limit], [last.succeeded_at.isoformat(), last.id]
    return payments, None


def _is_row_id(value) -> bool:
    """Whether a cursor's `value` could be a row id: a number the database can compare with one
    (a bigger one overflows its integers, an error rather than no rows)."""
    return type(value) is int and 0 <= value <= MAX_ROW_ID
