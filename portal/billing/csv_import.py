"""Importing invoices from a CSV file: all or nothing, with every bad row named, in flat memory.

The file has a header row and one row per invoice line; rows sharing an `invoice_number`
make up one invoice and must agree on its other columns. Columns:

    invoice_number, company_ref, po_number, issue_date, due_date, currency,
    description, quantity, unit_amount, tax_rate, custom.<name> (any number of these)

Dates are YYYY-MM-DD; `unit_amount` is an integer in minor units (cents); `quantity` and
`tax_rate` are decimals written with a dot ("2.5", "20.00"). `po_number`, `tax_rate` (0)
and the custom columns may be empty. Importing the same file twice changes nothing.

However long the file, memory stays flat: the rows are checked as they are read and staged
in a temporary table of the import's own transaction, then taken back invoice by invoice (in
the order of their first line, rows of one invoice together wherever they were in the file)
a chunk at a time, and written through `portal.billing.ingest`, as the API's batches are.
The caller commits, or rolls back on `ImportRejected`, so the file imports whole or not at all.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Column, Date, Integer, MetaData, String, Table, Text, func, insert, select, text
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.billing.ingest import ingest_invoices
from portal.billing.invoices import LineInput
from portal.billing.money import is_iso_currency
from portal.billing.sync import InvoiceData
from portal.db import insert_rows

REQUIRED_COLUMNS = (
    "invoice_number", "company_ref", "issue_date", "due_date", "currency", "description", "quantity", "unit_amount",
)
OPTIONAL_COLUMNS = ("po_number", "tax_rate")
CUSTOM_PREFIX = "custom."
# An invoice's terms, which all its rows repeat; the first that differs (in this order) is the one named.
_HEADER_FIELDS = ("company_ref", "currency", "custom_fields", "due_date", "issue_date", "po_number")
_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")
_DECIMAL = re.compile(r"^\d{1,9}(\.\d{1,4})?$")
_RATE = re.compile(r"^\d{1,3}(\.\d{1,2})?$")

#: Rows staged per INSERT, and invoices written per batch: what memory holds at once.
STAGE_EVERY = 5000
CHUNK_INVOICES = 1000


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


# The staged rows: one per line of the file that parsed, and each invoice's first line.
_STAGING = MetaData()
_STAGED_ROWS = Table(
    "acquit_import_row", _STAGING,
    Column("line", Integer, primary_key=True), Column("number", String(64), index=True),
    Column("company_ref", Text), Column("po_number", String(64)), Column("issue_date", Date),
    Column("due_date", Date), Column("currency", String(3)), Column("custom_fields", JSON),
    Column("description", String(500)), Column("quantity", String(20)), Column("unit_amount", BigInteger),
    Column("tax_rate", String(10)),
    prefixes=["TEMPORARY"],
)
_STAGED_INVOICES = Table(
    "acquit_import_invoice", _STAGING,
    Column("first_line", Integer, primary_key=True), Column("number", String(64)),
    prefixes=["TEMPORARY"],
)


class _Errors:
    """The problems found so far, up to `limit` (beyond it, the import stops looking)."""

    def __init__(self, limit: int):
        self.found: list[RowError] = []
        self.limit = limit

    def add(self, *errors: RowError) -> None:
        self.found += errors

    @property
    def full(self) -> bool:
        return len(self.found) >= self.limit

    def raise_if_any(self) -> None:
        if self.found:
            # By line, each line's problems in the order of its columns.
            raise ImportRejected(sorted(self.found, key=lambda error: error.line)[:self.limit])


def import_invoices(session: Session, actor: Actor, rows: Iterable[str], *, max_errors: int = 100,
                    send_emails: bool = False) -> ImportReport:
    """Read CSV text `rows` and create or update its invoices in the session's transaction.

    Raises `ImportRejected` (having written nothing the caller should keep: roll back) naming
    every bad row, up to `max_errors`; otherwise returns what was created, updated or left
    unchanged. With `send_emails`, new invoices' e-mails are queued for the outbox worker.
    """
    reader = csv.DictReader(rows)
    missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ImportRejected([RowError(1, None, f"missing column(s): {', '.join(missing)}")])
    unknown = [c for c in reader.fieldnames or [] if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
               and not c.startswith(CUSTOM_PREFIX)]
    if unknown:
        raise ImportRejected([RowError(1, None, f"unknown column(s): {', '.join(unknown)}")])

    errors = _Errors(max_errors)
    connection = session.connection()
    for table in _STAGING.sorted_tables:
        connection.execute(text(f"DROP TABLE IF EXISTS {table.name}"))
        table.create(connection)
    try:
        report = ImportReport(lines=_stage(session, reader, errors))
        if not report.lines:
            raise ImportRejected([RowError(1, None, "the file has no invoice rows")])
        session.execute(insert(_STAGED_INVOICES).from_select(
            ["first_line", "number"],
            select(func.min(_STAGED_ROWS.c.line), _STAGED_ROWS.c.number).group_by(_STAGED_ROWS.c.number)))
        if connection.dialect.name == "postgresql":
            # Autovacuum never counts a temporary table: unANALYZEd, PostgreSQL guesses that a chunk's
            # thousand numbers match most of the staged rows and reads them all for every chunk (time growing
            # with the square of the file's length). SQLite finds them through the number's index unasked.
            for table in _STAGING.sorted_tables:
                connection.execute(text(f"ANALYZE {table.name}"))
        # With bad rows already found, the rest is only checked (rows of one invoice must agree), not written.
        write = not errors.found
        for chunk in _invoices_by_chunk(session, errors):
            if not write:
                continue
            results = ingest_invoices(session, actor, [(number, data) for _, number, data in chunk],
                                      send_emails=send_emails)
            for (first_line, _, _), result in zip(chunk, results):
                if result.error is not None:
                    errors.add(RowError(first_line, result.error.field, str(result.error)))
                else:
                    assert result.outcome is not None, "an invoice written has its outcome"
                    report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
            report.invoices += len(chunk)
            # Written to the database: the session's identity map holds the chunk's invoices weakly, and
            # lets them go once nothing here refers to them, so memory stays flat.
            session.flush()
            if errors.full:
                break
        errors.raise_if_any()
        return report
    finally:
        for table in reversed(_STAGING.sorted_tables):
            connection.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


def _stage(session: Session, reader: csv.DictReader, errors: _Errors) -> int:
    """Check every row and stage the good ones; returns how many rows there were."""
    staged: list[dict] = []
    count = 0
    for row in reader:
        count += 1
        line_number = reader.line_num
        if None in row:
            errors.add(RowError(line_number, None, "more values than columns"))
        else:
            row_errors, parsed = _parse_row(line_number, row)
            errors.add(*row_errors)
            if parsed is not None:
                staged.append(parsed)
        if errors.full:
            break
        if len(staged) >= STAGE_EVERY:
            insert_rows(session, _STAGED_ROWS, staged)
            staged = []
    if staged:
        insert_rows(session, _STAGED_ROWS, staged)
    return count


def _invoices_by_chunk(session: Session, errors: _Errors) -> Iterator[list[tuple[int, str, InvoiceData]]]:
    """The staged invoices in the order of their first line, CHUNK_INVOICES at a time, as (first line, number, data);
    rows of one invoice that disagree on its terms are reported, and the invoice left out."""
    after = 0
    while True:
        firsts = session.execute(
            select(_STAGED_INVOICES.c.first_line, _STAGED_INVOICES.c.number)
            .where(_STAGED_INVOICES.c.first_line > after).order_by(_STAGED_INVOICES.c.first_line).limit(CHUNK_INVOICES)
        ).all()
        if not firsts:
            return
        after = firsts[-1].first_line
        rows_by_number: dict[str, list] = {}
        # Fetched at once (a chunk's rows are few): iterating the result would fetch them one call at a time.
        for row in session.execute(select(_STAGED_ROWS).where(_STAGED_ROWS.c.number.in_([n for _, n in firsts]))
                                   .order_by(_STAGED_ROWS.c.line)).all():
            rows_by_number.setdefault(row.number, []).append(row)
        chunk = []
        for first_line, number in firsts:
            first, *others = rows_by_number[number]
            terms = {name: getattr(first, name) for name in _HEADER_FIELDS}
            disagreeing = [(row.line, next(name for name in _HEADER_FIELDS if getattr(row, name) != terms[name]))
                           for row in others if any(getattr(row, name) != terms[name] for name in _HEADER_FIELDS)]
            for line, column in disagreeing:
                errors.add(RowError(line, column, f"differs from line {first_line} of the same invoice"))
            if disagreeing:
                continue
            lines = [LineInput(description=row.description, quantity=Decimal(row.quantity),
                               unit_amount=row.unit_amount, tax_rate=Decimal(row.tax_rate))
                     for row in (first, *others)]
            chunk.append((first_line, number, InvoiceData(lines=lines, **terms)))
        yield chunk


def _parse_row(line_number: int, row: dict) -> tuple[list[RowError], dict | None]:
    """The row's problems, or none and the row to stage."""
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
        return errors, None
    return [], {
        "line": line_number, "number": number, "company_ref": value["company_ref"], "po_number": po_number,
        "issue_date": dates["issue_date"], "due_date": dates["due_date"], "currency": value["currency"],
        "custom_fields": {
            key[len(CUSTOM_PREFIX):]: text for key, text in value.items() if key.startswith(CUSTOM_PREFIX) and text
        },
        "description": value["description"], "quantity": value["quantity"], "unit_amount": int(value["unit_amount"]),
        "tax_rate": tax_rate,
    }
