"""`portal.db.refresh_outgrown_statistics`: on PostgreSQL a table that has outgrown its statistics is
ANALYZEd (its foreign keys' checks are planned again), and only then; SQLite is left alone."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event, text

from portal.db import insert_rows, refresh_outgrown_statistics
from portal.models import Invoice


def _invoice_rows(company_id: int, first: int, count: int) -> list[dict]:
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    return [{
        "company_id": company_id, "number": f"GROW-{number:06d}", "po_number": None, "issue_date": date(2026, 11, 2),
        "due_date": date(2026, 12, 2), "currency": "EUR", "amount_net": 100, "amount_tax": 20, "amount_total": 120,
        "amount_paid": 0, "amount_credited": 0, "custom_fields": {}, "custom_fields_text": "", "pay_link_version": 1,
        "issued_at": at, "created_at": at, "updated_at": at,
    } for number in range(first, first + count)]


def _pages(db) -> tuple[int, int]:
    """The invoice table's pages as its statistics have them, and as it is now."""
    believed, current = db.execute(text(
        "SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int FROM pg_class "
        "WHERE oid = 'invoice'::regclass")).one()
    return believed, current


def _statements_of(db, work) -> list[str]:
    seen: list[str] = []
    engine = db.get_bind().engine

    def note(_connection, _cursor, statement, *_):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_a_table_grown_past_its_statistics_is_analyzed_once(db, make):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite plans each statement anew")
    company = make.company()
    db.flush()
    inserted = 0
    while True:
        believed, current = _pages(db)
        if current >= 16 and current > 2 * believed:
            break
        insert_rows(db, Invoice.__table__, _invoice_rows(company.id, inserted, 500))
        inserted += 500
        assert inserted <= 50_000, "the table never outgrew its statistics"

    first = _statements_of(db, lambda: refresh_outgrown_statistics(db, ["invoice"]))
    assert [statement for statement in first if statement.startswith("ANALYZE")] == ['ANALYZE (SKIP_LOCKED) invoice']
    believed, current = _pages(db)
    assert believed == current

    again = _statements_of(db, lambda: refresh_outgrown_statistics(db, ["invoice"]))
    assert not [statement for statement in again if statement.startswith("ANALYZE")]


def test_sqlite_is_left_alone(db):
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only")
    statements = _statements_of(db, lambda: refresh_outgrown_statistics(db, ["invoice"]))
    assert not [statement for statement in statements if "ANALYZE" in statement or "pg_class" in statement]
