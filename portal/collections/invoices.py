"""The collections team's invoice search across every company, and what its invoice page shows.

The search narrows with the customer list's own filters (`apply_history_filters`: number, PO,
amount or reference in one box; status; issue dates; amount range), plus the company, by
part of its name or reference. Staff also see drafts.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.audit import Actor
from portal.billing import exports
from portal.billing.history import HistoryPage, HistoryQuery, InvoiceRow, apply_history_filters, ordered_as_asked
from portal.billing.invoices import void_invoice
from portal.billing.status import InvoiceStatus, status_expression
from portal.collections.pages import page_within
from portal.disputes.service import DisputeContext, close_for_voided_invoice
from portal.models import AuditEvent, Company, CreditNote, Dispute, Invoice, Payment, PaymentAllocation, User


@dataclass(frozen=True)
class InvoiceSearch:
    filters: HistoryQuery
    company: str = ""  # part of the company's name or reference, any case


def search_invoices(session: Session, search: InvoiceSearch, *, today: date, currency: str) -> HistoryPage:
    """One page of every company's invoices matching `search`, each with its company loaded."""
    statement = _matching(search, today, currency)
    total_count = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    query = search.filters
    page = page_within(query.page, total_count, query.per_page)
    rows = session.execute(
        statement.add_columns(status_expression(today)).options(joinedload(Invoice.company))
        .limit(query.per_page).offset((page - 1) * query.per_page)
    ).all()
    return HistoryPage(rows=[InvoiceRow(invoice=invoice, status=InvoiceStatus(status)) for invoice, status in rows],
                       total_count=total_count, page=page, per_page=query.per_page)


def search_invoices_csv(session: Session, search: InvoiceSearch, *, today: date, currency: str) -> Iterator[str]:
    """Every invoice `search_invoices` would page through, in the same order, as CSV chunks."""
    return exports.invoices_as_csv(session, _matching(search, today, currency), today=today)


def _matching(search: InvoiceSearch, today: date, currency: str) -> Select:
    statement = apply_history_filters(select(Invoice), search.filters, today, currency)
    needle = search.company.strip().lower()
    if needle:
        statement = statement.where(Invoice.company_id.in_(
            select(Company.id).where(or_(func.lower(Company.name).contains(needle, autoescape=True),
                                         func.lower(Company.external_ref).contains(needle, autoescape=True)))))
    return ordered_as_asked(statement, search.filters)


def void_for_staff(session: Session, disputes: DisputeContext, actor: Actor, invoice: Invoice, reason: str) -> None:
    """Void `invoice` (refused, with `InvoiceConflict`, once it has payments or while one is in flight) and close
    its dispute in progress, telling the customer, as the supplier API's void does."""
    void_invoice(session, actor, invoice, reason)
    close_for_voided_invoice(session, disputes, actor, invoice)


# The staff invoice page ------------------------------------------------------------------------


@dataclass(frozen=True)
class TaxLine:
    rate: Decimal
    net: int
    tax: int


@dataclass(frozen=True)
class TimelineEntry:
    occurred_at: datetime
    action: str
    actor: str
    amount: int | None
    currency: str | None
    details: dict


@dataclass(frozen=True)
class InvoiceFile:
    """Everything the staff invoice page shows about one invoice, read in a fixed number of statements."""

    invoice: Invoice
    taxes: list[TaxLine]
    allocations: list[PaymentAllocation]  # every payment attempt's share of it, whatever its outcome
    credit_notes: list[CreditNote]
    disputes: list[Dispute]
    timeline: list[TimelineEntry]


def invoice_file(session: Session, invoice: Invoice) -> InvoiceFile:
    """The invoice's lines by tax rate, payments, credit notes, disputes (open or closed) and history."""
    taxes: dict[Decimal, list[int]] = {}
    for line in invoice.lines:
        sums = taxes.setdefault(line.tax_rate, [0, 0])
        sums[0] += line.amount_net
        sums[1] += line.amount_tax
    allocations = list(session.scalars(
        select(PaymentAllocation).join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(PaymentAllocation.invoice_id == invoice.id)
        .options(joinedload(PaymentAllocation.payment), selectinload(PaymentAllocation.refunds))
        .order_by(Payment.created_at, Payment.id)
    ))
    credit_notes = list(session.scalars(
        select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.issue_date, CreditNote.id)))
    disputes = list(session.scalars(select(Dispute).where(Dispute.invoice_id == invoice.id).order_by(Dispute.id)))
    events = session.execute(
        select(AuditEvent, User.full_name)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(AuditEvent.invoice_id == invoice.id)
        .order_by(AuditEvent.occurred_at, AuditEvent.id)
    ).all()
    timeline = [TimelineEntry(occurred_at=event.occurred_at, action=event.action,
                              actor=_actor_in_words(event.actor_label, full_name), amount=event.amount,
                              currency=event.currency, details=event.details or {})
                for event, full_name in events]
    return InvoiceFile(
        invoice=invoice,
        taxes=[TaxLine(rate=rate, net=net, tax=tax) for rate, (net, tax) in sorted(taxes.items())],
        allocations=allocations, credit_notes=credit_notes, disputes=disputes, timeline=timeline,
    )


def _actor_in_words(label: str, full_name: str | None) -> str:
    """A person's name (and address), or what the system was doing: "system:autopay" reads "autopay"."""
    if full_name:
        return f"{full_name} ({label})"
    return label.removeprefix("system:")
