"""A company's statement of account for a period, in one currency.

Every figure is summed from the rows that make it, each dated on the supplier's calendar:
an invoice on its issue date, a credit note on its own, a payment on the day it succeeded
or, received outside the portal, on the day staff say it was received (only the part of
it allocated to the company's invoices: an unallocated credit is not yet placed), a
refund of an invoice's share on the day it was made. Void invoices and drafts
are left out: nothing was ever owed on them. So the opening balance plus the period's
debits less its credits is the closing balance, and the aging buckets (what each invoice
still owed at the period's end, by how late it was) add up to it.
"""

import enum
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.clock import SUPPLIER_TIMEZONE
from portal.models import (
    Company,
    CreditNote,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    Refund,
    RefundStatus,
)


class EntryKind(enum.StrEnum):
    INVOICE = "invoice"
    PAYMENT = "payment"
    REFUND = "refund"
    CREDIT_NOTE = "credit_note"


class AgingBucket(enum.StrEnum):
    CURRENT = "current"
    DAYS_1_30 = "1_30"
    DAYS_31_60 = "31_60"
    DAYS_61_90 = "61_90"
    OVER_90 = "over_90"


@dataclass(frozen=True)
class StatementEntry:
    day: date
    kind: EntryKind
    reference: str
    # The invoices it concerns, by number (a payment may settle several).
    invoice_numbers: tuple[str, ...]
    debit: int
    credit: int
    balance: int = 0


@dataclass(frozen=True)
class Statement:
    company: Company
    currency: str
    start: date
    end: date
    opening_balance: int
    entries: list[StatementEntry]
    closing_balance: int
    aging: dict[AgingBucket, int]

    @property
    def total_debits(self) -> int:
        return sum(entry.debit for entry in self.entries)

    @property
    def total_credits(self) -> int:
        return sum(entry.credit for entry in self.entries)


def aging_bucket(due_date: date, on: date) -> AgingBucket:
    """Where an amount due on `due_date` stands on `on`: not yet late, or late by 1–30 … over 90 days."""
    late = (on - due_date).days
    if late <= 0:
        return AgingBucket.CURRENT
    if late <= 30:
        return AgingBucket.DAYS_1_30
    if late <= 60:
        return AgingBucket.DAYS_31_60
    if late <= 90:
        return AgingBucket.DAYS_61_90
    return AgingBucket.OVER_90


def statement_of_account(session: Session, company: Company, *, start: date, end: date,
                         currency: str | None = None) -> Statement:
    """The statement of `company` from `start` to `end` (both included), in `currency` (the company's by default)."""
    if end < start:
        raise ValueError("a statement's period ends on or after it starts")
    currency = currency or company.currency
    invoices = list(session.scalars(
        select(Invoice).where(Invoice.company_id == company.id, Invoice.currency == currency,
                              Invoice.issued_at.is_not(None), Invoice.voided_at.is_(None))
        .order_by(Invoice.issue_date, Invoice.number)))
    by_id = {invoice.id: invoice for invoice in invoices}
    entries = _entries(session, by_id)
    # How much of each invoice is still owed at the end: its debits less its credits up to then.
    owed_at_end = {invoice_id: 0 for invoice_id in by_id}
    for entry, invoice_amounts in entries:
        if entry.day <= end:
            for invoice_id, signed in invoice_amounts:
                owed_at_end[invoice_id] += signed
    opening = sum(entry.debit - entry.credit for entry, _ in entries if entry.day < start)
    balance, in_period = opening, []
    for entry, _ in entries:
        if start <= entry.day <= end:
            balance += entry.debit - entry.credit
            in_period.append(StatementEntry(entry.day, entry.kind, entry.reference, entry.invoice_numbers,
                                            entry.debit, entry.credit, balance))
    aging = dict.fromkeys(AgingBucket, 0)
    for invoice_id, owed in owed_at_end.items():
        if owed > 0:
            aging[aging_bucket(by_id[invoice_id].due_date, end)] += owed
    return Statement(company=company, currency=currency, start=start, end=end, opening_balance=opening,
                     entries=in_period, closing_balance=balance, aging=aging)


def _supplier_day(moment: datetime) -> date:
    return moment.astimezone(SUPPLIER_TIMEZONE).date()


_ORDER = {EntryKind.INVOICE: 0, EntryKind.CREDIT_NOTE: 1, EntryKind.PAYMENT: 2, EntryKind.REFUND: 3}


def _entries(session: Session, by_id: dict[int, Invoice]) -> list[tuple[StatementEntry, list[tuple[int, int]]]]:
    """Every entry of the company's account, oldest first, with what it does to each invoice (+ owed, − settled)."""
    if not by_id:
        return []
    ids = list(by_id)
    entries = [(StatementEntry(invoice.issue_date, EntryKind.INVOICE, invoice.number, (invoice.number,),
                               invoice.amount_total, 0), [(invoice.id, invoice.amount_total)])
               for invoice in by_id.values()]
    for note in session.scalars(select(CreditNote).where(CreditNote.invoice_id.in_(ids))):
        entries.append((StatementEntry(note.issue_date, EntryKind.CREDIT_NOTE, note.number,
                                       (by_id[note.invoice_id].number,), 0, note.amount),
                        [(note.invoice_id, -note.amount)]))
    payments: dict[int, tuple[Payment, list[PaymentAllocation]]] = {}
    for allocation, payment in session.execute(
            select(PaymentAllocation, Payment).join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(PaymentAllocation.invoice_id.in_(ids), Payment.status == PaymentStatus.SUCCEEDED)
            .order_by(PaymentAllocation.id)):
        payments.setdefault(payment.id, (payment, []))[1].append(allocation)
    for payment, allocations in payments.values():
        entries.append((StatementEntry(
            payment.received_on or _supplier_day(payment.succeeded_at or payment.created_at), EntryKind.PAYMENT,
            payment.reference or payment.method_summary or f"#{payment.id}",
            tuple(by_id[allocation.invoice_id].number for allocation in allocations), 0,
            sum(allocation.amount for allocation in allocations)),
            [(allocation.invoice_id, -allocation.amount) for allocation in allocations]))
    for refund, invoice_id in session.execute(
            select(Refund, PaymentAllocation.invoice_id).join(PaymentAllocation, PaymentAllocation.id == Refund.allocation_id)
            .where(PaymentAllocation.invoice_id.in_(ids), Refund.status == RefundStatus.SUCCEEDED)):
        entries.append((StatementEntry(_supplier_day(refund.created_at), EntryKind.REFUND,
                                       refund.provider_reference or f"#{refund.id}", (by_id[invoice_id].number,),
                                       refund.amount, 0), [(invoice_id, refund.amount)]))
    entries.sort(key=lambda pair: (pair[0].day, _ORDER[pair[0].kind], pair[0].reference))
    return entries
