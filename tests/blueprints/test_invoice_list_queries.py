"""The invoice list issues a fixed number of SQL queries whatever the page size: no N+1.

A template that touched a lazy relationship per row (`invoice.lines`, say) would add one
query per invoice shown, so 100 rows would cost 90 more queries than 10.
"""

from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import event

from portal.page_cache import MemoryPageCache
from tests.blueprints.pages import listed_invoice_numbers, visible_text

HTMX = {"HX-Request": "true"}
OVERDUE_COUNT = 105
RECENT_COUNT = 15


@pytest.fixture
def clerk_with_invoices(make):
    """A clerk whose company has 120 invoices (105 overdue, 5 open, 10 paid or partly), and a neighbour's."""
    company = make.company()
    neighbour = make.company()
    long_ago = date.today() - timedelta(days=200)
    for n in range(OVERDUE_COUNT):
        make.invoice(company, total=10_000 + n, issue_date=long_ago, due_date=long_ago + timedelta(days=30),
                     po_number=f"PO-{n}")
    for n in range(RECENT_COUNT):
        invoice = make.invoice(company, total=20_000 + n)
        if n % 3 == 0:
            make.payment(invoice, invoice.amount_total)
        elif n % 3 == 1:
            make.payment(invoice, 5_000)
    for n in range(5):
        make.invoice(neighbour, total=30_000 + n)
    return make.user(company)


@contextmanager
def counting_queries(engine):
    """Collect every statement sent to the database while the block runs."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def with_empty_page_cache(app) -> None:
    """Each page rendered afresh, as the first view after a change is: nothing one request cached
    (the "what you owe" figures, say) spares the next its queries."""
    app.extensions["acquit.page_cache"] = MemoryPageCache(1024 * 1024)


@pytest.fixture
def list_page(app, english, login_as, clerk_with_invoices, engine):
    """GET a list URL as the clerk, its page cache empty; returns the response and the SQL statements it issued.

    The `db` fixture binds every session of the app to one connection of `engine`, so every
    statement of the request passes through `engine`'s events.
    """
    client = login_as(clerk_with_invoices)

    def get(url: str, headers: dict | None = None):
        with_empty_page_cache(app)
        with counting_queries(engine) as statements:
            response = client.get(url, headers=headers or {})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response, statements

    return get


@pytest.mark.parametrize(
    ("query", "headers", "rows_on_big_page"),
    [
        pytest.param("", None, 100, id="full-page"),
        pytest.param("&status=overdue", None, 100, id="full-page-status-filter"),
        pytest.param("", HTMX, 100, id="htmx-partial"),
        pytest.param("&status=overdue&sort=amount&direction=asc", HTMX, 100, id="htmx-partial-status-filter"),
        pytest.param("&status=open", None, 5, id="full-page-few-rows"),
    ],
)
def test_list_issues_the_same_queries_for_10_and_100_rows(list_page, query, headers, rows_on_big_page):
    small, small_queries = list_page(f"/invoices?per_page=10{query}", headers)
    big, big_queries = list_page(f"/invoices?per_page=100{query}", headers)

    assert len(listed_invoice_numbers(small)) == min(10, rows_on_big_page)
    assert len(listed_invoice_numbers(big)) == rows_on_big_page
    assert small_queries, "no query was counted: is the app still bound to the test connection?"
    assert len(big_queries) == len(small_queries), "\n".join(big_queries)


def test_htmx_partial_is_the_results_fragment_only(list_page):
    response, _ = list_page("/invoices?per_page=10&status=overdue", HTMX)

    assert "<html" not in response.get_data(as_text=True)
    assert f"{OVERDUE_COUNT} invoices" in visible_text(response)
    assert len(listed_invoice_numbers(response)) == 10
