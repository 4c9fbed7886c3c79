"""Importing invoices from a CSV file: all or nothing, with every bad row named.

The file has a header row and one row per invoice line; rows sharing an `invoice_number`
make up one invoice and must agree on its other columns. Columns:

    invoice_number, company_ref, po_number, issue_date, due_date, currency,
    description, quantity, unit_amount, tax_rate, custom.<name> (any number of these)

Dates are YYYY-MM-DD; `unit_amount` is an integer in minor units (cents); `quantity` and
`tax_rate` are decimals written with a dot ("2.5", "20.00"). `po_number`, `tax_rate` (0)
and the custom columns may be empty. Importing the same file twice changes nothing.
"""

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.billing.errors import BillingError
from portal.billing.invoices import LineInput
from portal.billing.money import is_iso_currency
from portal.billing.sync import InvoiceData, upsert_invoice

REQUIRED_COLUMNS = (
    "invoice_number", "company_ref", "issue_date", "due_date", "currency", "description", "quantity", "unit_amount",
)
OPTIONAL_COLUMNS = ("po_number", "tax_rate")
CUSTOM_PREFIX = "custom."
_HEADER_FIELDS = ("company_ref", "po_number", "issue_date", "due_date", "currency")
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_DECIMAL = re.compile(r"^\d{1,9}(\.\d{1,4})?$")
_RATE = re.compile(r"^\d{1,3}(\.\d{1,2})?$")


@dataclass(frozen=True)
class RowError:
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}" + (f", {self.column}" if self.column else "") + f": {self.message}"


class ImportRejected(Exception):
    """The file was not imported; `errors` lists every problem found, by line."""

    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problem(s); nothing was imported")
        self.errors = errors


@dataclass
class ImportReport:
    invoices: int = 0
    lines: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    created_invoice_ids: list[int] = field(default_factory=list)


FLUSH_EVERY = 500


@dataclass
class _PendingInvoice:
    first_line: int
    header: dict
    lines: list[LineInput]


def import_invoices(session: Session, actor: Actor, rows: Iterable[str], *, max_errors: int = 100) -> ImportReport:
    """Read CSV text `rows` and upsert its invoices in the session's transaction.

    Raises `ImportRejected` (having written nothing the caller should keep: roll back) if
    any row is bad; otherwise returns what was created, updated or left unchanged.
    The whole file is one transaction, so that it imports all or nothing; to keep memory
    flat however long the file, what is written is flushed and let go of as it goes
    (the session's objects are detached every `FLUSH_EVERY` invoices).
    """
    reader = csv.DictReader(rows)
    errors: list[RowError] = []
    missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ImportRejected([RowError(1, None, f"missing column(s): {', '.join(missing)}")])
    unknown = [c for c in reader.fieldnames if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and not c.startswith(CUSTOM_PREFIX)]
    if unknown:
        raise ImportRejected([RowError(1, None, f"unknown column(s): {', '.join(unknown)}")])

    pending: dict[str, _PendingInvoice] = {}
    line_count = 0
    for row in reader:
        line_number = reader.line_num
        line_count += 1
        if None in row:
            errors.append(RowError(line_number, None, "more values than columns"))
            continue
        row_errors, number, header, line = _parse_row(line_number, row)
        errors += row_errors
        if row_errors:
            continue
        if number in pending:
            if pending[number].header != header:
                differing = sorted(k for k in header if header[k] != pending[number].header[k])
                errors.append(RowError(line_number, differing[0],
                                       f"differs from line {pending[number].first_line} of the same invoice"))
                continue
            pending[number].lines.append(line)
        else:
            pending[number] = _PendingInvoice(first_line=line_number, header=header, lines=[line])
        if len(errors) >= max_errors:
            break
    if errors:
        raise ImportRejected(errors)
    if not pending:
        raise ImportRejected([RowError(1, None, "the file has no invoice rows")])

    report = ImportReport(invoices=len(pending), lines=line_count)
    for position, (number, invoice) in enumerate(pending.items(), start=1):
        if position % FLUSH_EVERY == 0:
            session.flush()
            session.expunge_all()
        try:
            written, outcome = upsert_invoice(session, actor, number, InvoiceData(lines=invoice.lines, **invoice.header))
        except BillingError as error:
            errors.append(RowError(invoice.first_line, getattr(error, "field", None), str(error)))
            if len(errors) >= max_errors:
                break
            continue
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
        if outcome == "created":
            report.created_invoice_ids.append(written.id)
    if errors:
        raise ImportRejected(errors)
    return report


def _parse_row(line_number: int, row: dict) -> tuple[list[RowError], str, dict, LineInput | None]:
    errors = []

    def problem(column: str, message: str) -> None:
        errors.append(RowError(line_number, column, message))

    value = {key: (text or "").strip() for key, text in row.items()}
    number = value["invoice_number"]
    if not _NUMBER.match(number):
        problem("invoice_number", "letters, digits, '.', '_' and '-', up to 64")
    if not value["company_ref"]:
        problem("company_ref", "required")
    dates = {}
    for column in ("issue_date", "due_date"):
        try:
            dates[column] = date.fromisoformat(value[column])
        except ValueError:
            problem(column, f"not a date (YYYY-MM-DD): {value[column]!r}")
    if len(dates) == 2 and dates["due_date"] < dates["issue_date"]:
        problem("due_date", "before the issue date")
    if not is_iso_currency(value["currency"]):
        problem("currency", f"not an ISO 4217 currency code: {value['currency']!r}")
    if not value["description"] or len(value["description"]) > 500:
        problem("description", "required, up to 500 characters")
    if not _DECIMAL.match(value["quantity"]):
        problem("quantity", f"not a non-negative decimal: {value['quantity']!r}")
    if not value["unit_amount"].isdigit() or len(value["unit_amount"]) > 13:
        problem("unit_amount", f"not a whole number of minor units: {value['unit_amount']!r}")
    tax_rate = value.get("tax_rate") or "0"
    if not _RATE.match(tax_rate) or Decimal(tax_rate) > 100:
        problem("tax_rate", f"not a percentage such as 20.00: {tax_rate!r}")
    po_number = value.get("po_number") or None
    if po_number and len(po_number) > 64:
        problem("po_number", "up to 64 characters")
    if errors:
        return errors, number, {}, None
    header = {
        "company_ref": value["company_ref"],
        "po_number": po_number,
        "issue_date": dates["issue_date"],
        "due_date": dates["due_date"],
        "currency": value["currency"],
        "custom_fields": {
            key[len(CUSTOM_PREFIX):]: text for key, text in value.items() if key.startswith(CUSTOM_PREFIX) and text
        },
    }
    try:
        line = LineInput(description=value["description"], quantity=Decimal(value["quantity"]),
                         unit_amount=int(value["unit_amount"]), tax_rate=Decimal(tax_rate))
    except InvalidOperation:
        return [RowError(line_number, "quantity", "not a decimal")], number, {}, None
    return [], number, header, line
