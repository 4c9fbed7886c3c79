"""`acquit import invoices FILE.csv`: all or nothing, with every bad line named."""

import pytest
from sqlalchemy import func, select

from portal.models import AuditEvent, Invoice, InvoiceLine, OutboxMessage

HEADER = ("invoice_number,company_ref,po_number,issue_date,due_date,currency,description,quantity,unit_amount,"
          "tax_rate,custom.cost_centre\n")


def row(number: str, company: str = "ACME", *, issued: str = "2026-11-01", description: str = "Widgets",
        quantity: str = "1", unit_amount: int = 1000) -> str:
    return f"{number},{company},PO-{number},{issued},2026-12-01,EUR,{description},{quantity},{unit_amount},20.00,R&D"


@pytest.fixture
def acme(make, db):
    make.company(ref="ACME")
    db.commit()


@pytest.fixture
def import_file(app, tmp_path):
    """Write `rows` under a header to a file and run the import command on it."""

    def run(rows: list[str], *options: str):
        path = tmp_path / "invoices.csv"
        path.write_text(HEADER + "".join(line + "\n" for line in rows), encoding="utf-8")
        return app.test_cli_runner().invoke(args=["import", "invoices", str(path), *options])

    return run


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_a_file_imports_and_says_what_it_did(db, acme, import_file):
    result = import_file([row("INV-1"), row("INV-1", description="Delivery", unit_amount=500), row("INV-2")])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Imported 2 invoices (3 lines): 2 created."
    assert count(db, Invoice) == 2 and count(db, InvoiceLine) == 3
    invoice = db.scalar(select(Invoice).where(Invoice.number == "INV-1"))
    assert (invoice.amount_total, invoice.custom_fields) == (1_800, {"cost_centre": "R&D"})


def test_the_same_file_again_is_reported_unchanged_and_writes_nothing(db, acme, import_file):
    rows = [row("INV-1"), row("INV-2")]
    import_file(rows)
    audit_rows = count(db, AuditEvent)

    result = import_file(rows)

    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "Imported 2 invoices (2 lines): 2 unchanged."
    assert count(db, AuditEvent) == audit_rows


def test_a_dry_run_reports_and_writes_nothing(db, acme, import_file):
    result = import_file([row("INV-1"), row("INV-2")], "--dry-run")

    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "Dry run: 2 invoices (2 lines) would be imported: 2 created."
    assert count(db, Invoice) == 0 and count(db, AuditEvent) == 0


def test_one_bad_row_among_ten_thousand_fails_the_command_names_its_line_and_imports_nothing(db, acme, import_file):
    rows = [row(f"INV-{n:05d}", unit_amount=100 + n) for n in range(10_000)]
    rows[7_340] = row("INV-07340", quantity="-1")  # the file's line 7,342: the header is line 1

    result = import_file(rows)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 7342, quantity: not a non-negative decimal: '-1'",
        "Error: 1 problem(s) found; nothing was imported.",
    ]
    assert count(db, Invoice) == 0 and count(db, AuditEvent) == 0


def test_a_row_refused_only_when_written_rolls_back_the_invoices_written_before_it(db, acme, import_file):
    rows = [row(f"INV-{n}") for n in range(1, 51)] + [row("INV-51", company="NOBODY")]

    result = import_file(rows)

    assert result.exit_code == 1
    assert "line 52, company_ref: no company has the reference 'NOBODY'" in result.stderr
    assert count(db, Invoice) == 0 and count(db, InvoiceLine) == 0 and count(db, AuditEvent) == 0


def test_a_file_with_a_wrong_header_is_refused_whole(db, acme, app, tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_text("number,customer\nINV-1,ACME\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["import", "invoices", str(path)])

    assert result.exit_code == 1
    assert "line 1: missing column(s): invoice_number, company_ref" in result.stderr
    assert count(db, Invoice) == 0


def test_a_file_saved_by_excel_with_a_byte_order_mark_imports(db, acme, app, tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_bytes((HEADER + row("INV-1") + "\n").encode("utf-8-sig"))

    result = app.test_cli_runner().invoke(args=["import", "invoices", str(path)])

    assert result.exit_code == 0, result.output
    assert count(db, Invoice) == 1


def test_a_file_longer_than_a_chunk_is_imported_and_e_mailed_whole(db, make, import_file, monkeypatch):
    # The import stages rows and writes invoices a few at a time, to keep memory flat.
    monkeypatch.setattr("portal.billing.csv_import.CHUNK_INVOICES", 3)
    monkeypatch.setattr("portal.billing.csv_import.STAGE_EVERY", 4)
    make.company(ref="ACME", billing_emails=["ap@acme.test"])
    db.commit()

    result = import_file([row(f"INV-{n}") for n in range(1, 11)] + [row("INV-3", description="Delivery")])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "Imported 10 invoices (11 lines): 10 created."
    assert count(db, Invoice) == 10 and count(db, InvoiceLine) == 11
    assert count(db, OutboxMessage) == 10
    sent = db.scalars(select(AuditEvent.invoice_id).where(AuditEvent.action == "invoice.sent")).all()
    assert sorted(sent) == sorted(db.scalars(select(Invoice.id)).all())

    assert result.output.splitlines()[1].startswith("10 new invoice(s) queued for e-mailing")
    assert db.scalars(select(OutboxMessage.compose).distinct()).all() == ["invoice_issued"]


def test_bad_lines_at_the_end_of_a_long_file_are_all_named_and_nothing_is_written(db, acme, import_file, monkeypatch):
    monkeypatch.setattr("portal.billing.csv_import.CHUNK_INVOICES", 500)
    rows = [row(f"INV-{n:05d}", unit_amount=100 + n) for n in range(5_000)]
    rows += [row("INV-99998", issued="2026-13-01"), row("INV-99999", unit_amount="12.5")]

    result = import_file(rows)

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "line 5002, issue_date: not a date (YYYY-MM-DD): '2026-13-01'",
        "line 5003, unit_amount: not a whole number of minor units: '12.5'",
        "Error: 2 problem(s) found; nothing was imported.",
    ]
    assert count(db, Invoice) == 0 and count(db, AuditEvent) == 0


def test_refusals_found_only_when_writing_late_in_a_long_file_undo_every_chunk_before(db, acme, import_file,
                                                                                       monkeypatch):
    monkeypatch.setattr("portal.billing.csv_import.CHUNK_INVOICES", 100)
    rows = [row(f"INV-{n:04d}") for n in range(1_000)]
    rows += [row("INV-LATE-1", company="NOBODY"), row("INV-0003", company="ACME", description="Late line"),
             row("INV-LATE-2", company="GHOST")]

    result = import_file(rows)

    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "line 1002, company_ref: no company has the reference 'NOBODY'",
        "line 1004, company_ref: no company has the reference 'GHOST'",
    ]
    assert count(db, Invoice) == 0 and count(db, InvoiceLine) == 0 and count(db, AuditEvent) == 0


def test_rows_of_one_invoice_far_apart_in_a_long_file_make_one_invoice(db, acme, import_file, monkeypatch):
    monkeypatch.setattr("portal.billing.csv_import.CHUNK_INVOICES", 10)
    monkeypatch.setattr("portal.billing.csv_import.STAGE_EVERY", 7)
    rows = [row(f"INV-{n:03d}") for n in range(100)] + [row("INV-000", description="Delivery", unit_amount=500)]

    result = import_file(rows)

    assert result.exit_code == 0, result.output
    first = db.scalar(select(Invoice).where(Invoice.number == "INV-000"))
    assert [line.description for line in first.lines] == ["Widgets", "Delivery"]
    assert first.amount_total == 1_200 + 600
    assert count(db, Invoice) == 100
