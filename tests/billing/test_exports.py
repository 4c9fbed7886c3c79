import csv
import io
import tracemalloc
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from portal.billing.exports import ExportFilters, invoice_csv, payment_csv
from portal.models import Invoice

TODAY = date(2026, 11, 23)


def read(chunks) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def test_invoice_export_lists_a_company_invoices_with_decimal_amounts(db, make):
    mine, theirs = make.company(), make.company()
    invoice = make.invoice(mine, total=123456, po_number="PO-9", custom_fields={"cost_centre": "R&D"})
    make.payment(invoice, 23456)
    make.invoice(theirs, total=500)
    rows = read(invoice_csv(db, ExportFilters(company_id=mine.id), today=TODAY))
    assert len(rows) == 1
    row = rows[0]
    assert (row["invoice_number"], row["po_number"], row["currency"]) == (invoice.number, "PO-9", "EUR")
    assert (row["amount_total"], row["amount_paid"], row["amount_due"]) == ("1234.56", "234.56", "1000.00")
    assert row["status"] in {"partially_paid", "overdue"}
    assert row["custom_fields"] == '{"cost_centre": "R&D"}'


def test_invoice_export_filters_by_po_amount_and_issue_dates(db, make):
    company = make.company()
    keep = make.invoice(company, total=5000, po_number="PO-1", issue_date=date(2026, 3, 10))
    make.invoice(company, total=5000, po_number="PO-2", issue_date=date(2026, 3, 10))
    make.invoice(company, total=90000, po_number="PO-1", issue_date=date(2026, 3, 10))
    make.invoice(company, total=5000, po_number="PO-1", issue_date=date(2026, 5, 10))
    filters = ExportFilters(company_id=company.id, po_number="PO-1", amount_min=1000, amount_max=10000,
                            date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
    assert [row["invoice_number"] for row in read(invoice_csv(db, filters, today=TODAY))] == [keep.number]


def test_payment_export_has_a_row_per_invoice_settled(db, make):
    company = make.company()
    first, second = make.invoice(company, total=1000), make.invoice(company, total=2000)
    from portal.payments.ledger import record_offline_payment

    payment = record_offline_payment(db, make.ACTOR, company=company, allocations=[(first, 1000), (second, 500)],
                                     method_summary="Bank transfer", reference="TRF-1")
    rows = read(payment_csv(db, ExportFilters(company_id=company.id)))
    assert [(row["payment_id"], row["invoice_number"], row["allocated_amount"], row["payment_amount"]) for row in rows] == [
        (str(payment.id), first.number, "10.00", "15.00"),
        (str(payment.id), second.number, "5.00", "15.00"),
    ]


def test_payment_export_date_range_is_in_the_supplier_calendar(db, make):
    company = make.company()
    invoice = make.invoice(company, total=1000)
    payment = make.payment(invoice, 1000)
    # 23:30 UTC on the 9th is already the 10th in Paris.
    payment.succeeded_at = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    db.flush()
    on_the_10th = ExportFilters(company_id=company.id, date_from=date(2026, 3, 10), date_to=date(2026, 3, 10))
    on_the_9th = ExportFilters(company_id=company.id, date_from=date(2026, 3, 9), date_to=date(2026, 3, 9))
    assert len(read(payment_csv(db, on_the_10th))) == 1
    assert read(payment_csv(db, on_the_9th)) == []


def _bulk_invoices(db, company, count: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    db.execute(insert(Invoice), [
        dict(company_id=company.id, number=f"BULK-{company.id}-{n}", issue_date=date(2026, 1, 1),
             due_date=date(2026, 1, 1) + timedelta(days=30), currency="EUR", amount_net=1000, amount_tax=200,
             amount_total=1200, amount_paid=0, amount_credited=0, custom_fields={}, issued_at=now,
             created_at=now, updated_at=now)
        for n in range(count)
    ])


def _peak_export_memory(db, company) -> tuple[int, int]:
    tracemalloc.start()
    rows = 0
    for chunk in invoice_csv(db, ExportFilters(company_id=company.id), today=TODAY):
        rows += chunk.count("\n")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return rows, peak


def test_export_memory_does_not_grow_with_the_number_of_invoices(db, make):
    small, large = make.company(), make.company()
    _bulk_invoices(db, small, 1_000)
    _bulk_invoices(db, large, 10_000)
    small_rows, small_peak = _peak_export_memory(db, small)
    large_rows, large_peak = _peak_export_memory(db, large)
    assert (small_rows, large_rows) == (1_001, 10_001)
    # Ten times the rows may not cost anything like ten times the memory: streamed, it stays flat.
    assert large_peak < small_peak * 2, (small_peak, large_peak)


FORMULAS = ["=HYPERLINK(\"http://evil.test\",\"Click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", "\uff1d1+1"]


def test_text_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(db, make):
    for number, formula in enumerate(FORMULAS):
        company = make.company(name=formula, ref=f"CSV-{number}")
        invoice = make.invoice(company, total=1000, po_number=formula)
        from portal.payments.ledger import record_offline_payment

        record_offline_payment(db, make.ACTOR, company=company, allocations=[(invoice, 400)],
                               method_summary=formula, reference=formula)

    invoices = read(invoice_csv(db, ExportFilters(), today=TODAY))
    payments = read(payment_csv(db, ExportFilters()))

    exported = {(row["company_name"], row["po_number"]) for row in invoices if row["company_ref"].startswith("CSV-")}
    assert exported == {("'" + formula, "'" + formula) for formula in FORMULAS}
    assert {(row["method"], row["reference"], row["po_number"]) for row in payments
            if row["company_ref"].startswith("CSV-")} == {("'" + formula,) * 3 for formula in FORMULAS}


def test_numbers_and_ordinary_text_are_exported_unchanged(db, make):
    company = make.company(name="Dash-In-The-Middle SARL", ref="CSV-PLAIN")
    make.invoice(company, total=1000, po_number="PO-1=2")

    [row] = read(invoice_csv(db, ExportFilters(company_id=company.id), today=TODAY))

    assert (row["company_name"], row["po_number"], row["amount_total"]) == ("Dash-In-The-Middle SARL", "PO-1=2", "10.00")
