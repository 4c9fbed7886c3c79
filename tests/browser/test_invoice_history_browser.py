"""The invoice list in a real browser: htmx filtering in place, PDF download, and no-JS use."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.models import Role

pytestmark = pytest.mark.browser

OVERDUE_ROWS = "#results tbody tr.status-overdue"
ALL_ROWS = "#results tbody tr"


@pytest.fixture
def history(live_make, live_db):
    """A company with 30 invoices (overdue, paid, partly paid, open) and a clerk; committed."""
    today = clock.today()
    company = live_make.company(locale="en")
    overdue, others = [], []
    for n in range(12):
        issued = today - timedelta(days=60 + n)
        invoice = live_make.invoice(company, total=10_000 + n, issue_date=issued, due_date=issued + timedelta(days=30))
        if n % 4 == 0:
            live_make.payment(invoice, 2_500)  # part-paid and late is still overdue
        overdue.append(invoice)
    for n in range(10):
        issued = today - timedelta(days=50 + n)
        invoice = live_make.invoice(company, total=20_000 + n, issue_date=issued, due_date=issued + timedelta(days=30))
        live_make.payment(invoice, invoice.amount_total)
        others.append(invoice)
    for n in range(8):
        issued = today - timedelta(days=5 + n)
        invoice = live_make.invoice(company, total=30_000 + n, issue_date=issued, due_date=issued + timedelta(days=30))
        if n % 3 == 0:
            live_make.payment(invoice, 1_000)
        others.append(invoice)
    clerk = live_make.user(company, role=Role.VIEWER)
    live_db.commit()
    return clerk, overdue, others


def _row_numbers(page, selector: str) -> set[str]:
    return set(page.locator(f"{selector} td:first-child a").all_inner_texts())


def test_overdue_filter_updates_the_list_in_place_and_a_pdf_downloads(page, sign_in, history):
    clerk, overdue, others = history
    sign_in(page, clerk)
    expect(page).to_have_url("/invoices")
    rows = page.locator(ALL_ROWS)
    expect(rows).to_have_count(25)  # the default page size, of 30
    assert page.locator(f"{ALL_ROWS}:not(.status-overdue)").count() > 0

    page.evaluate("window.acquitPageMarker = 'still the same page'")
    with page.expect_request(lambda request: "status=overdue" in request.url) as filter_request:
        page.locator("#filters select[name=status]").select_option(label="Overdue")
    assert filter_request.value.headers.get("hx-request") == "true"
    page.wait_for_url("**/invoices?*status=overdue*")

    expect(rows).to_have_count(len(overdue))
    expect(page.locator(OVERDUE_ROWS)).to_have_count(len(overdue))
    assert _row_numbers(page, ALL_ROWS) == {invoice.number for invoice in overdue}
    assert page.evaluate("window.acquitPageMarker") == "still the same page", "the filter reloaded the whole page"
    expect(page.locator("h1")).to_have_count(1)  # the partial was swapped in, not a page inside the page

    chosen = overdue[3]
    page.get_by_role("link", name=chosen.number, exact=True).click()
    page.wait_for_url(f"**/invoices/{chosen.id}")
    expect(page.locator("h1")).to_contain_text(chosen.number)
    expect(page.locator("h1 .badge")).to_have_class("badge badge-overdue")

    with page.expect_download() as download_info:
        page.locator(f"a[download][href$='/invoices/{chosen.id}/pdf']").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"{chosen.number}.pdf"
    document = download.path().read_bytes()
    assert document.startswith(b"%PDF-")
    assert len(document) > 1_000
    assert document.rstrip().endswith(b"%%EOF")


def test_filter_form_works_without_javascript(new_context, sign_in, history):
    clerk, overdue, others = history
    page = new_context(java_script_enabled=False).new_page()
    sign_in(page, clerk)
    page.goto("/invoices")
    page.locator("#filters select[name=status]").select_option(label="Overdue")
    assert "status=" not in page.url  # without htmx, choosing alone changes nothing

    with page.expect_navigation():
        page.locator("#filters button[type=submit]").click()

    assert "status=overdue" in page.url
    expect(page.locator(ALL_ROWS)).to_have_count(len(overdue))
    assert _row_numbers(page, ALL_ROWS) == {invoice.number for invoice in overdue}
    assert _row_numbers(page, ALL_ROWS).isdisjoint(invoice.number for invoice in others)
