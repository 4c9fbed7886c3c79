"""Creating and updating many invoices at once, set-based: the API's batch and the CSV import.

Each invoice is decided as `portal.billing.sync.upsert_invoice` decides it alone (the same
checks and refusals, outcomes, audit rows and e-mails), but a batch reads its companies,
invoices, disputes and payments in flight in one query each, and writes its new invoices,
their lines, the audit rows and the e-mails in one statement each. Items are independent:
one refused is left out and the others are written (per-item results).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.audit import Actor
from portal.billing.data_version import company_data_changed
from portal.billing.errors import BillingError
from portal.billing.invoices import check_invoice_terms, invoice_totals, priced_lines
from portal.billing.new_invoice_mail import NewInvoice, queue_new_invoice_emails
from portal.billing.sync import (
    InvoiceData,
    Outcome,
    apply_invoice_changes,
    disputes_of,
    invoice_changes,
    new_amounts_refusal,
    refuse_if_void,
    refuse_other_company,
    unknown_company,
)
from portal.db import insert_rows, refresh_outgrown_statistics
from portal.models import Company, Invoice, InvoiceLine, InvoicePaymentClaim
from portal.models.invoice import custom_fields_text
from portal.models.types import utcnow

#: The most invoices one batch takes: enough to amortise a request, small enough to answer in about a second.
MAX_BATCH = 1000
# A concurrent writer that creates one of the batch's numbers first makes the batch's INSERT fail
# (PostgreSQL; SQLite writers take turns): it is decided again, seeing that invoice, this many times.
RACE_RETRIES = 3


@dataclass(frozen=True)
class ItemResult:
    """What became of one invoice of a batch: an outcome (created, updated, unchanged), or the error that refused it."""

    number: str
    outcome: str | None = None
    error: BillingError | None = None
    invoice_id: int | None = None


class DuplicateNumbers(ValueError):
    """A batch names an invoice twice: which one it means is for the sender to say."""

    def __init__(self, index: int, first_index: int):
        super().__init__(f"this invoice number is already at index {first_index} of the batch")
        self.index = index
        self.first_index = first_index


@dataclass
class _Update:
    index: int
    invoice: Invoice
    data: InvoiceData
    changed_terms: dict
    amounts_change: bool


def ingest_invoices(session: Session, actor: Actor, items: Sequence[tuple[str, InvoiceData]], *,
                    send_emails: bool = True, now: datetime | None = None) -> list[ItemResult]:
    """Create or update each invoice of `items` (number, data), in the session's transaction; one result per item.

    A new invoice is issued and, with `send_emails`, queued for e-mailing to its company's
    recipients (composed by the outbox worker). Raises `DuplicateNumbers` if a number repeats.
    """
    first_index: dict[str, int] = {}
    for index, (number, _) in enumerate(items):
        if number in first_index:
            raise DuplicateNumbers(index, first_index[number])
        first_index[number] = index
    for _ in range(RACE_RETRIES - 1):
        try:
            with session.begin_nested():
                return _ingest(session, actor, items, send_emails=send_emails, now=now)
        except IntegrityError:
            continue
    with session.begin_nested():
        return _ingest(session, actor, items, send_emails=send_emails, now=now)


def _ingest(session: Session, actor: Actor, items: Sequence[tuple[str, InvoiceData]], *, send_emails: bool,
            now: datetime | None) -> list[ItemResult]:
    refs = {data.company_ref for _, data in items}
    companies = {ref: (company_id, locale) for ref, company_id, locale in session.execute(
        select(Company.external_ref, Company.id, Company.locale).where(Company.external_ref.in_(refs)))}
    # Locked as they are read, as `upsert_invoice` locks one (see `portal.billing.invoices.lock_invoice`).
    existing = {invoice.number: invoice for invoice in session.scalars(
        select(Invoice).where(Invoice.number.in_([number for number, _ in items]))
        .options(selectinload(Invoice.lines)).with_for_update().execution_options(populate_existing=True))}

    results: dict[int, ItemResult] = {}
    creations: list[tuple[int, str, InvoiceData, int, str]] = []
    updates: list[_Update] = []
    for index, (number, data) in enumerate(items):
        try:
            if data.company_ref not in companies:
                raise unknown_company(data.company_ref)
            company_id, locale = companies[data.company_ref]
            check_invoice_terms(number, data.issue_date, data.due_date, data.currency, data.lines)
            invoice = existing.get(number)
            if invoice is None:
                creations.append((index, number, data, company_id, locale))
                continue
            refuse_other_company(invoice, company_id)
            changed_terms, amounts_change = invoice_changes(invoice, data)
            if not changed_terms and not amounts_change:
                results[index] = ItemResult(number, Outcome.UNCHANGED, invoice_id=invoice.id)
                continue
            refuse_if_void(invoice)
            updates.append(_Update(index, invoice, data, changed_terms, amounts_change))
        except BillingError as error:
            results[index] = ItemResult(number, error=error)

    _update(session, actor, updates, results, now)
    _create(session, actor, creations, results, send_emails=send_emails, now=now)
    return [results[index] for index in range(len(items))]


def _update(session: Session, actor: Actor, updates: list[_Update], results: dict[int, ItemResult], now: datetime | None) -> None:
    repriced = [update.invoice.id for update in updates if update.amounts_change]
    disputes = disputes_of(session, repriced)
    in_flight = set(session.scalars(
        select(InvoicePaymentClaim.invoice_id).where(InvoicePaymentClaim.invoice_id.in_(repriced)))) if repriced else set()
    entries = []
    for update in updates:
        invoice = update.invoice
        if update.amounts_change:
            refusal = new_amounts_refusal(invoice, disputes.get(invoice.id, []), in_flight=invoice.id in in_flight)
            if refusal is not None:
                results[update.index] = ItemResult(invoice.number, error=refusal)
                continue
        changed = apply_invoice_changes(invoice, update.data, update.changed_terms, update.amounts_change)
        entries.append(audit.Entry("invoice.updated", company_id=invoice.company_id, invoice_id=invoice.id,
                                   amount=invoice.amount_total, currency=invoice.currency, occurred_at=now,
                                   details={"changed": changed}))
        results[update.index] = ItemResult(invoice.number, Outcome.UPDATED, invoice_id=invoice.id)
    if entries:
        session.flush()
        audit.record_all(session, actor, entries)


def _insert_invoices(session: Session, rows: list[dict]) -> list[int]:
    """INSERT the invoice `rows`; returns their ids, in order.

    On PostgreSQL the ids are drawn from the table's sequence first and the rows sent by COPY
    (`insert_rows`), which returns nothing. SQLite cannot promise the order of a many-row
    INSERT … RETURNING, for which SQLAlchemy would send one INSERT a row: the rows go as one
    executemany and their ids are read back by number (unique) in one SELECT.
    """
    if session.get_bind().dialect.name != "postgresql":
        insert_rows(session, Invoice.__table__, rows)
        id_of = {number: invoice_id for number, invoice_id in session.execute(
            select(Invoice.number, Invoice.id).where(Invoice.number.in_([row["number"] for row in rows])))}
        return [id_of[row["number"]] for row in rows]
    ids = list(session.scalars(select(func.nextval(func.pg_get_serial_sequence("invoice", "id")))
                               .select_from(func.generate_series(1, len(rows)))))
    insert_rows(session, Invoice.__table__, [{"id": invoice_id, **row} for invoice_id, row in zip(ids, rows)])
    return ids


def _create(session: Session, actor: Actor, creations: list, results: dict[int, ItemResult], *, send_emails: bool,
            now: datetime | None) -> None:
    if not creations:
        return
    issued_at = now or utcnow()
    priced = [priced_lines(data.lines) for _, _, data, _, _ in creations]
    rows = []
    for (_, number, data, company_id, _), lines in zip(creations, priced):
        net, tax, total = invoice_totals(lines)
        rows.append({
            "company_id": company_id, "number": number, "po_number": data.po_number or None,
            "issue_date": data.issue_date, "due_date": data.due_date, "currency": data.currency,
            "amount_net": net, "amount_tax": tax, "amount_total": total, "amount_paid": 0, "amount_credited": 0,
            "custom_fields": dict(data.custom_fields), "custom_fields_text": custom_fields_text(data.custom_fields),
            "pay_link_version": 1, "issued_at": issued_at, "created_at": issued_at, "updated_at": issued_at,
        })
    ids = _insert_invoices(session, rows)
    # Before the lines and audit rows, whose foreign keys look the new invoices up.
    refresh_outgrown_statistics(session, [Invoice.__tablename__])
    insert_rows(session, InvoiceLine.__table__, [
        {"invoice_id": invoice_id, **line} for invoice_id, lines in zip(ids, priced) for line in lines
    ])
    # These INSERTs are no ORM flush: the companies' data versions are told here (once per company).
    company_data_changed(session, {row["company_id"] for row in rows})
    entries = []
    for invoice_id, row in zip(ids, rows):
        money = {"company_id": row["company_id"], "invoice_id": invoice_id, "amount": row["amount_total"],
                 "currency": row["currency"]}
        entries.append(audit.Entry("invoice.created", **money, occurred_at=now, details={"number": row["number"]}))
        entries.append(audit.Entry("invoice.issued", **money, occurred_at=issued_at))
    audit.record_all(session, actor, entries)
    if send_emails:
        queue_new_invoice_emails(session, actor, [
            NewInvoice(id=invoice_id, company_id=company_id, locale=locale)
            for invoice_id, (_, _, _, company_id, locale) in zip(ids, creations)
        ])
    for invoice_id, (index, number, _, _, _) in zip(ids, creations):
        results[index] = ItemResult(number, Outcome.CREATED, invoice_id=invoice_id)
