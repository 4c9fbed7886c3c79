import io
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.csv_import import ImportRejected, import_invoices
from portal.models import Invoice

IMPORTER = Actor.system("import:test")
HEADER = (
    "invoice_number,company_ref,po_number,issue_date,due_date,currency,"
    "description,quantity,unit_amount,tax_rate,custom.cost_centre\n"
)


def csv_rows(*rows: str) -> io.StringIO:
    return io.StringIO(HEADER + "".join(row + "\n" for row in rows))


@pytest.fixture
def acme(make):
    return make.company(ref="ACME")


def test_rows_of_one_invoice_become_its_lines(db, acme):
    report = import_invoices(db, IMPORTER, csv_rows(
        "INV-1,ACME,PO-1,2026-11-01,2026-12-01,EUR,Widgets,3,1999,20.00,R&D",
        "INV-1,ACME,PO-1,2026-11-01,2026-12-01,EUR,Delivery,1,500,20.00,R&D",
        "INV-2,ACME,,2026-11-02,2026-12-02,EUR,Consulting,1.5,10000,,",
    ))
    assert (report.invoices, report.lines, report.outcomes) == (2, 3, {"created": 2})
    first = db.scalar(select(Invoice).where(Invoice.number == "INV-1"))
    assert [line.description for line in first.lines] == ["Widgets", "Delivery"]
    assert first.amount_total == 5997 + 1199 + 500 + 100
    assert first.custom_fields == {"cost_centre": "R&D"}
    second = db.scalar(select(Invoice).where(Invoice.number == "INV-2"))
    assert (second.po_number, second.amount_total, second.due_date) == (None, 15000, date(2026, 12, 2))


def test_importing_the_same_file_twice_changes_nothing(db, acme):
    rows = ("INV-1,ACME,PO-1,2026-11-01,2026-12-01,EUR,Widgets,3,1999,20.00,R&D",)
    import_invoices(db, IMPORTER, csv_rows(*rows))
    report = import_invoices(db, IMPORTER, csv_rows(*rows))
    assert report.outcomes == {"unchanged": 1}


def test_one_bad_row_among_ten_thousand_names_its_line_and_imports_nothing(db, acme):
    rows = [f"INV-{n},ACME,PO-{n},2026-11-01,2026-12-01,EUR,Widgets,1,{100 + n},20.00," for n in range(10_000)]
    rows[6_000] = "INV-6000,ACME,PO-6000,2026-11-31,2026-12-01,EUR,Widgets,1,100,20.00,"
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, csv_rows(*rows))
    assert [str(error) for error in rejected.value.errors] == [
        "line 6002, issue_date: not a date (YYYY-MM-DD): '2026-11-31'"
    ]
    assert db.scalar(select(func.count()).select_from(Invoice)) == 0


def test_every_bad_row_is_reported_with_its_column(db, acme):
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, csv_rows(
            "INV-1,ACME,,2026-11-01,2026-10-01,EUR,Widgets,1,100,20.00,",
            "INV-2,ACME,,2026-11-01,2026-12-01,EURO,Widgets,-1,12.5,120,",
        ))
    assert [(error.line, error.column) for error in rejected.value.errors] == [
        (2, "due_date"), (3, "currency"), (3, "quantity"), (3, "unit_amount"), (3, "tax_rate"),
    ]


def test_rows_of_one_invoice_that_disagree_are_refused(db, acme):
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, csv_rows(
            "INV-1,ACME,PO-1,2026-11-01,2026-12-01,EUR,Widgets,1,100,20.00,",
            "INV-1,ACME,PO-2,2026-11-01,2026-12-01,EUR,Bolts,1,100,20.00,",
        ))
    assert str(rejected.value.errors[0]) == "line 3, po_number: differs from line 2 of the same invoice"


def test_an_unknown_company_is_reported_at_the_invoice_first_line(db, acme):
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, csv_rows(
            "INV-1,ACME,,2026-11-01,2026-12-01,EUR,Widgets,1,100,20.00,",
            "INV-2,NOPE,,2026-11-01,2026-12-01,EUR,Widgets,1,100,20.00,",
        ))
    assert [(error.line, error.column) for error in rejected.value.errors] == [(3, "company_ref")]


def test_a_file_with_missing_or_unknown_columns_is_refused_whole(db):
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, io.StringIO("invoice_number,colour\nINV-1,blue\n"))
    assert "missing column(s)" in str(rejected.value.errors[0])


def test_a_row_with_too_many_values_is_refused(db, acme):
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, csv_rows("INV-1,ACME,,2026-11-01,2026-12-01,EUR,Widgets,1,100,20.00,,extra"))
    assert str(rejected.value.errors[0]) == "line 2: more values than columns"
