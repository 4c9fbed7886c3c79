"""A customer's invoice history: the scoped queries behind the list, summary and detail pages.

Every query here starts from `customer_invoices(company_id)`, so a clerk can only ever reach
their own company's issued invoices: there is no unscoped path to take by mistake.
"""

import enum
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import Select, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from portal.billing.company_fields import invoices_with_a_field_containing, invoices_with_field_value
from portal.billing.errors import InvalidAmount, InvoiceNotFound
from portal.billing.money import parse_amount
from portal.billing.payable import undisputed_amount_due_expression
from portal.billing.status import (
    InvoiceStatus,
    amount_due_expression,
    open_invoice_condition,
    status_condition,
    status_expression,
)
from portal.models import (
    AuditEvent,
    CreditNote,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    Refund,
    RefundStatus,
    ReminderEmail,
    ReminderItem,
)

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
DUE_SOON_DAYS = 30


class SortKey(enum.StrEnum):
    DUE_DATE = "due_date"
    ISSUE_DATE = "issue_date"
    AMOUNT = "amount"
    NUMBER = "number"


SORT_COLUMNS = {
    SortKey.DUE_DATE: Invoice.due_date,
    SortKey.ISSUE_DATE: Invoice.issue_date,
    SortKey.AMOUNT: Invoice.amount_total,
    SortKey.NUMBER: Invoice.number,
}


@dataclass(frozen=True)
class HistoryQuery:
    """What the clerk asked the list for; already validated by the caller."""

    text: str = ""
    po_number: str | None = None
    status: InvoiceStatus | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    # The company's own fields asked for: (field id, exact value) pairs.
    company_fields: tuple[tuple[int, str], ...] = ()
    sort: SortKey = SortKey.DUE_DATE
    descending: bool = True
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class InvoiceRow:
    invoice: Invoice
    status: InvoiceStatus

    @property
    def amount_due(self) -> int:
        return 0 if self.status in (InvoiceStatus.VOID, InvoiceStatus.DRAFT) else self.invoice.amount_due


@dataclass(frozen=True)
class HistoryPage:
    rows: list[InvoiceRow]
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


@dataclass(frozen=True)
class AmountOwed:
    """The "what you owe" figures for one currency."""

    currency: str
    total_due: int
    overdue: int
    due_soon: int
    open_count: int


def customer_invoices(company_id: int) -> Select:
    """The company's issued invoices: the root of every customer-facing invoice query."""
    return select(Invoice).where(Invoice.company_id == company_id, Invoice.issued_at.is_not(None))


def find_customer_invoice(session: Session, company_id: int, invoice_id: int) -> Invoice:
    """One of the company's invoices, or `InvoiceNotFound` (whether it exists elsewhere or not)."""
    invoice = session.scalar(customer_invoices(company_id).where(Invoice.id == invoice_id))
    if invoice is None:
        raise InvoiceNotFound(f"invoice {invoice_id}")
    return invoice


def find_customer_invoices(session: Session, company_id: int, invoice_ids: list[int]) -> list[Invoice]:
    """Several of the company's invoices by id, in id order; `InvoiceNotFound` if any is not theirs."""
    wanted = set(invoice_ids)
    invoices = list(session.scalars(customer_invoices(company_id).where(Invoice.id.in_(wanted)).order_by(Invoice.id)))
    if len(invoices) != len(wanted):
        raise InvoiceNotFound(f"invoices {sorted(wanted - {invoice.id for invoice in invoices})}")
    return invoices


def invoice_history(
    session: Session, company_id: int, query: HistoryQuery, *, today: date, currency: str
) -> HistoryPage:
    """One page of the company's invoices, filtered, searched and sorted as asked."""
    status = status_expression(today)
    filtered = apply_history_filters(customer_invoices(company_id), query, today, currency)
    total_count = session.execute(select(func.count()).select_from(filtered.order_by(None).subquery())).scalar_one()
    page_count = max(1, -(-total_count // query.per_page))
    page = min(query.page, page_count)
    rows = session.execute(
        ordered_as_asked(filtered, query).add_columns(status)
        .limit(query.per_page)
        .offset((page - 1) * query.per_page)
    ).all()
    return HistoryPage(
        rows=[InvoiceRow(invoice=invoice, status=InvoiceStatus(row_status)) for invoice, row_status in rows],
        total_count=total_count,
        page=page,
        per_page=query.per_page,
    )


@dataclass(frozen=True, slots=True)
class ListRow:
    """One invoice as the customer's list shows it: plain values, read in the page's one statement."""

    id: int
    number: str
    po_number: str | None
    issue_date: date
    due_date: date
    currency: str
    amount_total: int
    amount_due: int
    status: InvoiceStatus
    # What may be ticked and paid now: what is due less what an active dispute holds back.
    payable: int
    reminded_on: date | None


@dataclass(frozen=True)
class ListPage:
    rows: list[ListRow]
    total_count: int
    page: int
    per_page: int

    page_count = HistoryPage.page_count
    has_previous = HistoryPage.has_previous
    has_next = HistoryPage.has_next


def invoice_list(session: Session, company_id: int, query: HistoryQuery, *, today: date, currency: str) -> ListPage:
    """One page of the company's invoices for its list, in two statements whatever the page size:
    the count, then the rows with their status, what is payable and the last reminder's day."""
    counted, listed = _list_statements(company_id, replace(query, page=1), today, currency)
    total_count = session.execute(counted).scalar_one()
    page = min(query.page, max(1, -(-total_count // query.per_page)))
    rows = session.execute(listed, {"offset": (page - 1) * query.per_page}).all()
    return ListPage(
        rows=[ListRow(id, number, po_number, issue_date, due_date, currency_, total, due, InvoiceStatus(status),
                      payable, _as_date(reminded))
              for id, number, po_number, issue_date, due_date, currency_, total, due, status, payable, reminded in rows],
        total_count=total_count, page=page, per_page=query.per_page,
    )


# Building these statements, and SQLAlchemy keying them for its compiled cache, costs more than
# running them; they depend only on their arguments, and a statement object keeps its key.
@lru_cache(maxsize=256)
def _list_statements(company_id: int, query: HistoryQuery, today: date, currency: str) -> tuple[Select, Select]:
    filtered = apply_history_filters(customer_invoices(company_id), query, today, currency)
    last_reminded = (select(func.max(ReminderEmail.sent_on))
                     .join(ReminderItem, ReminderItem.email_id == ReminderEmail.id)
                     .where(ReminderItem.invoice_id == Invoice.id).correlate(Invoice).scalar_subquery())
    listed = ordered_as_asked(filtered, query).with_only_columns(
        Invoice.id, Invoice.number, Invoice.po_number, Invoice.issue_date, Invoice.due_date, Invoice.currency,
        Invoice.amount_total, amount_due_expression(), status_expression(today),
        undisputed_amount_due_expression(), last_reminded,
    ).limit(query.per_page).offset(bindparam("offset"))
    return filtered.with_only_columns(func.count()).order_by(None), listed


def _as_date(value) -> date | None:
    # max() over a date column comes back from SQLite as text.
    return date.fromisoformat(value) if isinstance(value, str) else value


def history_statement(company_id: int, query: HistoryQuery, *, today: date, currency: str) -> Select:
    """Every invoice `invoice_history` pages through, in the same order, as one statement (for a CSV of the list)."""
    return ordered_as_asked(
        apply_history_filters(customer_invoices(company_id), query, today, currency), query)


def matching_invoice_ids(session: Session, company_id: int, query: HistoryQuery, *, today: date,
                         currency: str) -> list[int]:
    """The ids of every invoice of the company that `query`'s filters match (all pages), in the list's order."""
    statement = history_statement(company_id, query, today=today, currency=currency)
    return list(session.scalars(statement.with_only_columns(Invoice.id)))


def ordered_as_asked(statement: Select, query: HistoryQuery) -> Select:
    """`statement` in `query`'s order, the invoice id breaking ties so pages never overlap."""
    sort_column = SORT_COLUMNS[query.sort]
    if query.descending:
        return statement.order_by(sort_column.desc(), Invoice.id.desc())
    return statement.order_by(sort_column.asc(), Invoice.id.asc())


def apply_history_filters(statement: Select, query: HistoryQuery, today: date, currency: str) -> Select:
    """`statement` (a select of invoices) narrowed to `query`'s search and filters, statuses as on
    `today`. The collections team's invoice search narrows with it too."""
    if query.text:
        needle = query.text.strip().lower()
        matches = [
            func.lower(Invoice.number).contains(needle, autoescape=True),
            func.lower(func.coalesce(Invoice.po_number, "")).contains(needle, autoescape=True),
            Invoice.custom_fields_text.contains(needle, autoescape=True),
            invoices_with_a_field_containing(needle),
        ]
        try:
            amount = parse_amount(query.text, currency)
        except InvalidAmount:
            amount = None
        if amount is not None:
            matches += [Invoice.amount_total == amount, amount_due_expression() == amount]
        statement = statement.where(or_(*matches))
    if query.po_number:
        statement = statement.where(Invoice.po_number == query.po_number)
    if query.status is not None:
        statement = statement.where(status_condition(query.status, today))
    if query.issued_from is not None:
        statement = statement.where(Invoice.issue_date >= query.issued_from)
    if query.issued_to is not None:
        statement = statement.where(Invoice.issue_date <= query.issued_to)
    if query.amount_min is not None:
        statement = statement.where(Invoice.amount_total >= query.amount_min)
    if query.amount_max is not None:
        statement = statement.where(Invoice.amount_total <= query.amount_max)
    for field_id, value in query.company_fields:
        statement = statement.where(invoices_with_field_value(field_id, value))
    return statement


def amount_owed(session: Session, company_id: int, *, today: date) -> list[AmountOwed]:
    """Total due, overdue and due within 30 days, per currency, over the company's invoices."""
    rows = session.execute(_amount_owed_statement(company_id, today)).all()
    return [
        AmountOwed(currency=currency, total_due=int(total or 0), overdue=int(overdue or 0),
                   due_soon=int(soon or 0), open_count=int(count or 0))
        for currency, total, overdue, soon, count in rows
        if total
    ]


@lru_cache(maxsize=256)
def _amount_owed_statement(company_id: int, today: date) -> Select:
    # Only open invoices add to the sums, and they are few in a long history: read from the
    # partial index on them (ix_invoice_open), where what is due is simply total less paid and credited.
    due = Invoice.amount_total - Invoice.amount_paid - Invoice.amount_credited
    due_soon_until = today + timedelta(days=DUE_SOON_DAYS)
    return (
        select(Invoice.currency).where(Invoice.company_id == company_id, open_invoice_condition())
        .with_only_columns(
            Invoice.currency,
            func.sum(due),
            func.sum(_when(Invoice.due_date < today, due)),
            func.sum(_when((Invoice.due_date >= today) & (Invoice.due_date <= due_soon_until), due)),
            func.count(),
        )
        .group_by(Invoice.currency)
        .order_by(Invoice.currency)
    )


def _when(condition, value):
    return case((condition, value), else_=0)


@dataclass(frozen=True)
class Settlement:
    """A payment or credit note applied to an invoice, for the detail page."""

    kind: str
    reference: str
    amount: int
    currency: str
    on: date
    method: str
    # A bank transfer or cheque: the page names it in its own language.
    offline_method: str | None = None
    credit_note_id: int | None = None


def invoice_settlements(session: Session, invoice: Invoice) -> list[Settlement]:
    """Succeeded payments, refunds (negative) and credit notes applied to `invoice`, oldest first."""
    payments = session.execute(
        select(PaymentAllocation.amount, Payment)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(PaymentAllocation.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED)
    ).all()
    refunds = session.execute(
        select(Refund, Payment)
        .join(PaymentAllocation, PaymentAllocation.id == Refund.allocation_id)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(PaymentAllocation.invoice_id == invoice.id, Refund.status == RefundStatus.SUCCEEDED)
    ).all()
    credit_notes = session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice.id)).all()
    settlements = [
        Settlement(
            kind="payment",
            reference=payment.reference or f"P-{payment.id}",
            amount=amount,
            currency=payment.currency,
            on=(payment.succeeded_at or payment.created_at).date(),
            method=payment.method_summary,
            offline_method=payment.offline_method,
        )
        for amount, payment in payments
    ] + [
        Settlement(
            kind="refund",
            reference=payment.reference or f"P-{payment.id}",
            amount=-refund.amount,
            currency=payment.currency,
            on=(refund.succeeded_at or refund.created_at).date(),
            method=refund.reason or payment.method_summary,
        )
        for refund, payment in refunds
    ] + [
        Settlement(
            kind="credit_note",
            reference=note.number,
            amount=note.amount,
            currency=note.currency,
            on=note.issue_date,
            method=note.reason,
            credit_note_id=note.id,
        )
        for note in credit_notes
    ]
    return sorted(settlements, key=lambda settlement: settlement.on)


def invoice_timeline(session: Session, invoice: Invoice) -> list[AuditEvent]:
    """Everything that happened to `invoice`, oldest first."""
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.invoice_id == invoice.id).order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    )
