"""CSV exports of invoices and payments for reconciliation, streamed row by row.

Rows are fetched in batches and written as they come, so an export of a million invoices
needs no more memory than one of a hundred. Amounts are decimals with a dot ("1234.56")
next to their currency, which is what spreadsheets and accounting imports expect.

Text that a spreadsheet would run as a formula (a company name or PO number starting with
"=", "+", "-" or "@", sent by a customer or an ERP) is written with a leading apostrophe, so
it shows as the text it is (OWASP "CSV injection"). Numbers and dates are never text here.

The payment export is a journal: every row is an entry on the day it took effect, and an
entry is never rewritten afterwards, so an export of a closed period stays true. Money given
back is a row of its own with a negative `allocated_amount`: a refund (`entry` "refund", on the
day the card processor made it) or the cancellation of a transfer or cheque recorded by mistake
(`entry` "cancellation", on the day it was cancelled, with why in `note`); the payment's own
rows stay as they were. Summing `allocated_amount` per invoice gives what it holds today.
A refund of credit that settled no invoice has no invoice number.
"""

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import Integer, Select, Text, cast, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from portal.billing.company_fields import company_fields, field_value_column
from portal.billing.money import to_decimal
from portal.billing.status import amount_due_expression, status_expression
from portal.clock import SUPPLIER_TIMEZONE
from portal.models import (
    Company,
    CompanyField,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    Refund,
    RefundStatus,
)

BATCH_SIZE = 1000

INVOICE_COLUMNS = (
    "invoice_number", "company_ref", "company_name", "company_vat_number", "company_address", "company_postcode",
    "company_city", "company_country", "po_number", "issue_date", "due_date", "status", "currency",
    "amount_net", "amount_tax", "amount_total", "amount_paid", "amount_credited", "amount_due", "custom_fields",
)
PAYMENT_COLUMNS = (
    "payment_id", "succeeded_at", "company_ref", "method", "reference", "currency", "payment_amount",
    "invoice_number", "po_number", "allocated_amount", "entry", "refund_id", "note",
)


@dataclass(frozen=True)
class ExportFilters:
    """What to export. `company_id` scopes a customer's export to their own company."""

    company_id: int | None = None
    po_number: str | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    # The ids of the invoices a list shows (a select): only their payments, as the list's own CSV holds.
    invoices: Select | None = None


def invoice_csv(session: Session, filters: ExportFilters, *, today: date) -> Iterator[str]:
    """The invoices matching `filters` (issue date range, PO, total range) as CSV chunks."""
    statement = select(Invoice).where(Invoice.issued_at.is_not(None)).order_by(Invoice.issue_date, Invoice.id)
    if filters.company_id is not None:
        statement = statement.where(Invoice.company_id == filters.company_id)
    if filters.po_number:
        statement = statement.where(Invoice.po_number == filters.po_number)
    if filters.amount_min is not None:
        statement = statement.where(Invoice.amount_total >= filters.amount_min)
    if filters.amount_max is not None:
        statement = statement.where(Invoice.amount_total <= filters.amount_max)
    if filters.date_from is not None:
        statement = statement.where(Invoice.issue_date >= filters.date_from)
    if filters.date_to is not None:
        statement = statement.where(Invoice.issue_date <= filters.date_to)
    # A company's own export carries its own fields, one column each, after the supplier's.
    fields = company_fields(session, filters.company_id) if filters.company_id is not None else []
    return invoices_as_csv(session, statement, today=today, fields=fields)


def invoices_as_csv(session: Session, invoices: Select, *, today: date,
                    fields: Sequence[CompanyField] = ()) -> Iterator[str]:
    """The invoices `invoices` selects (a `select(Invoice)` with its filters and order) as CSV chunks:
    a list page's CSV is the same statement as the page, without its LIMIT. `fields`, the
    company's own fields, each add a column."""
    status = status_expression(today)
    # Columns, not entities: rows then never pile up in the session's identity map.
    statement = invoices.with_only_columns(
        Invoice.number, Company.external_ref, Company.name, Company.vat_number, Company.billing_address,
        Company.billing_postcode, Company.billing_city, Company.billing_country, Invoice.po_number, Invoice.issue_date,
        Invoice.due_date, status, Invoice.currency, Invoice.amount_net, Invoice.amount_tax, Invoice.amount_total,
        Invoice.amount_paid, Invoice.amount_credited, amount_due_expression(), Invoice.custom_fields,
        *(field_value_column(field) for field in fields),
    ).join_from(Invoice, Company, Company.id == Invoice.company_id)

    def rows():
        for (number, company_ref, company_name, vat_number, address, postcode, city, country, po_number, issue_date,
             due_date, row_status, currency, *amounts_and_fields) in stream_rows(session, statement):
            amounts, custom_fields = amounts_and_fields[:6], amounts_and_fields[6]
            yield (
                number, company_ref, company_name,
                *(value or "" for value in (vat_number, address, postcode, city, country)),
                po_number or "", issue_date.isoformat(), due_date.isoformat(),
                row_status, currency, *(to_decimal(amount, currency) for amount in amounts),
                json.dumps(custom_fields, ensure_ascii=False, sort_keys=True) if custom_fields else "",
                *(value or "" for value in amounts_and_fields[7:]),
            )

    return csv_chunks(INVOICE_COLUMNS + tuple(field.label for field in fields), rows())


def payment_csv(session: Session, filters: ExportFilters) -> Iterator[str]:
    """Payments received (one row per invoice they settle), refunds and cancellations matching `filters`
    (the day each took effect, PO, payment amount), in the order they happened."""
    received = _payment_entries(
        select(Payment.succeeded_at.label("on"), literal("payment").label("entry"), literal(0).label("entry_order"),
               cast(null(), Integer).label("refund_id"), cast(literal(""), Text).label("note"),
               PaymentAllocation.amount.label("allocated"), PaymentAllocation.id.label("row_id"))
        .select_from(Payment)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .outerjoin(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        # A cancelled transfer was received, then taken back: both stay in the journal.
        .where(Payment.status.in_([PaymentStatus.SUCCEEDED, PaymentStatus.CANCELLED])),
        filters, on=Payment.succeeded_at)
    refunded = _payment_entries(
        select(Refund.succeeded_at.label("on"), literal("refund").label("entry"), literal(1).label("entry_order"),
               Refund.id.label("refund_id"), Refund.reason.label("note"), (-Refund.amount).label("allocated"),
               Refund.id.label("row_id"))
        .select_from(Payment)
        .join(Refund, Refund.payment_id == Payment.id)
        .outerjoin(PaymentAllocation, PaymentAllocation.id == Refund.allocation_id)
        .outerjoin(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(Refund.status == RefundStatus.SUCCEEDED),
        filters, on=Refund.succeeded_at)
    cancelled = _payment_entries(
        select(Payment.cancelled_at.label("on"), literal("cancellation").label("entry"),
               literal(2).label("entry_order"), cast(null(), Integer).label("refund_id"),
               Payment.cancel_reason.label("note"), (-PaymentAllocation.amount).label("allocated"),
               PaymentAllocation.id.label("row_id"))
        .select_from(Payment)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .outerjoin(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(Payment.status == PaymentStatus.CANCELLED),
        filters, on=Payment.cancelled_at)
    journal = union_all(received, refunded, cancelled).subquery()
    statement = select(journal).order_by(journal.c.on, journal.c.payment_id, journal.c.entry_order, journal.c.row_id)

    def rows():
        for entry in stream_rows(session, statement):
            currency = entry.currency
            yield (
                entry.payment_id, entry.on.isoformat() if entry.on else "", entry.company_ref, entry.method,
                entry.reference or "", currency, to_decimal(entry.payment_amount, currency), entry.invoice_number or "",
                entry.po_number or "", to_decimal(entry.allocated, currency), entry.entry,
                entry.refund_id if entry.refund_id is not None else "", entry.note or "",
            )

    return csv_chunks(PAYMENT_COLUMNS, rows())


def _payment_entries(statement, filters: ExportFilters, *, on):
    """One kind of journal entry, with the payment's columns every kind shares, narrowed by `filters`."""
    statement = (
        statement
        .add_columns(Payment.id.label("payment_id"), Company.external_ref.label("company_ref"),
                     Payment.method_summary.label("method"),
                     func.coalesce(Payment.payer_reference, Payment.provider_reference).label("reference"),
                     Payment.currency.label("currency"), Payment.amount.label("payment_amount"),
                     Invoice.number.label("invoice_number"), Invoice.po_number.label("po_number"))
        .join(Company, Company.id == Payment.company_id)
    )
    if filters.company_id is not None:
        statement = statement.where(Payment.company_id == filters.company_id)
    if filters.po_number:
        statement = statement.where(Invoice.po_number == filters.po_number)
    if filters.invoices is not None:
        statement = statement.where(Invoice.id.in_(filters.invoices))
    if filters.amount_min is not None:
        statement = statement.where(Payment.amount >= filters.amount_min)
    if filters.amount_max is not None:
        statement = statement.where(Payment.amount <= filters.amount_max)
    if filters.date_from is not None:
        statement = statement.where(on >= _start_of(filters.date_from))
    if filters.date_to is not None:
        statement = statement.where(on < _start_of(filters.date_to + timedelta(days=1)))
    return statement


def _start_of(day: date) -> datetime:
    """Midnight at the supplier's, so a date range means the supplier's calendar days."""
    return datetime.combine(day, time.min, tzinfo=SUPPLIER_TIMEZONE)


def stream_rows(session: Session, statement):
    """The rows of `statement`, fetched in batches."""
    # yield_per fetches in batches (a server-side cursor on PostgreSQL) instead of all rows at once.
    yield from session.execute(statement.execution_options(yield_per=BATCH_SIZE))


# What starts a formula in Excel, LibreOffice or Google Sheets (the full-width forms too), and
# the tab and carriage return that shift a cell so that the next character starts one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralised_cell(value):
    """`value` as a CSV cell no spreadsheet runs: text that would start a formula gets a leading "'"."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_chunks(columns, rows) -> Iterator[str]:
    """A header of `columns`, then `rows`, as CSV text in chunks of `BATCH_SIZE` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for count, row in enumerate(rows, start=1):
        writer.writerow([neutralised_cell(value) for value in row])
        if count % BATCH_SIZE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
