"""Every CSV link beside a list exports what the list shows: the same rows, all its pages, in its order.

The link is read off the page (it must carry the list's search, filters and sort), then the
CSV's rows are compared with the rows of every page of the list followed by its "Next" links.
"""

import csv
import io
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.models import Invoice, Payment, PaymentAllocation, PaymentStatus, Role
from tests.blueprints.pages import listed_invoice_numbers, page

TODAY = date.today()


@pytest.fixture
def company_books(make, db):
    """One customer with 36 invoices of every status, four POs, a spread of amounts and dates."""
    company = make.company(ref="BOOKS", name="Librairie Martin")
    for n in range(36):
        issued = TODAY - timedelta(days=5 * n + 3)
        invoice = make.invoice(company, number=f"B-{n:03d}", total=(n % 9 + 1) * 37_50, po_number=f"PO-{n % 4}",
                               issue_date=issued, due_date=issued + timedelta(days=30 if n % 3 else 60))
        if n % 5 == 0:
            make.payment(invoice, invoice.amount_total)
        elif n % 5 == 1:
            make.payment(invoice, 10_00)
            make.payment(invoice, 5_00)
        elif n % 7 == 2:
            make.credit_note(invoice, 12_00)
    db.commit()
    return company


def _all_pages(client, url: str) -> tuple[list[str], str, str]:
    """The invoice numbers on every page from `url`, and the two CSV links of its first page."""
    response = client.get(url)
    assert response.status_code == 200
    first = page(response)
    links = {anchor.text: anchor.attrs["href"] for anchor in first.find_all("a") if ".csv" in anchor.attrs.get("href", "")}
    numbers = listed_invoice_numbers(response)
    while True:
        following = [anchor for anchor in page(response).find_all("a", rel="next")]
        if not following:
            break
        response = client.get(following[0].attrs["href"])
        numbers += listed_invoice_numbers(response)
    invoice_link = next(href for href in links.values() if "/invoices/export.csv" in href)
    payment_link = next(href for href in links.values() if "/invoices/payments.csv" in href)
    return numbers, invoice_link, payment_link


def _csv_rows(client, href: str) -> list[dict]:
    response = client.get(href)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


LISTS = {
    "as first shown": "",
    "overdue": "status=overdue",
    "partly paid, by amount": "status=partially_paid&sort=amount&direction=asc",
    "a search": "q=PO-2",
    "a PO and a date range, by number": f"po=PO-1&issued_from={TODAY - timedelta(days=120)}&sort=number&direction=asc",
    "an amount range, by issue date": "amount_min=100&amount_max=300&sort=issue_date&direction=asc",
    "paid, by due date": "status=paid&sort=due_date&direction=asc",
    "nothing matches": "q=nothing-like-this",
}


@pytest.mark.parametrize("query", LISTS.values(), ids=LISTS.keys())
def test_the_invoice_and_payment_csvs_hold_what_the_list_shows(make, login_as, db, company_books, query):
    client = login_as(make.user(company_books, role=Role.ADMIN))

    if query == "q=nothing-like-this":
        # An empty list offers no link; the export of the same filters is empty too.
        assert listed_invoice_numbers(client.get(f"/invoices?{query}")) == []
        assert _csv_rows(client, f"/invoices/export.csv?{query}") == []
        return
    shown, invoice_link, payment_link = _all_pages(client, f"/invoices?per_page=10&{query}")

    assert shown, "the list shows invoices"
    assert len(shown) == len(set(shown)), "no invoice is shown on two pages"
    assert [row["invoice_number"] for row in _csv_rows(client, invoice_link)] == shown
    paid_allocations = Counter(db.scalars(
        select(PaymentAllocation.invoice_id)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(Payment.status == PaymentStatus.SUCCEEDED, Payment.company_id == company_books.id)
    ))
    numbers_by_id = dict(db.execute(select(Invoice.id, Invoice.number).where(Invoice.company_id == company_books.id)).all())
    expected_payment_rows = Counter({numbers_by_id[invoice_id]: count for invoice_id, count in paid_allocations.items()
                                     if numbers_by_id[invoice_id] in shown})
    assert Counter(row["invoice_number"] for row in _csv_rows(client, payment_link)) == expected_payment_rows
