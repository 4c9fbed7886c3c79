"""The collections team's pages over the hand-computed ledger: what each shows, its filters, its CSV."""

from datetime import date

import pytest
from sqlalchemy import select

from portal import clock
from portal.models import Invoice, PaymentStatus
from tests.blueprints.conftest import english  # noqa: F401  (a fixture)
from tests.blueprints.pages import page, table_rows, visible_text
from tests.collections.conftest import TODAY
from tests.collections.pages import download_csv, every_page, row_keys

pytestmark = pytest.mark.usefixtures("english", "on_today")


@pytest.fixture
def on_today(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture
def staff_client(make, login_as):
    return login_as(make.staff(locale="en", email="collections@supplier.test"))


def figure(response, name: str) -> str:
    return page(response).find("div", **{"data-figure": name}).text


# --- Dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_shows_the_figures_per_currency(ledger, staff_client):
    response = staff_client.get("/collections/")

    assert response.status_code == 200
    euros = page(response).find("section", **{"data-currency": "EUR"})
    assert euros.find("div", **{"data-figure": "receivable"}).text == "Receivable €8,540.00 9 open invoices"
    assert euros.find("div", **{"data-figure": "overdue"}).text == "Overdue €7,300.00 7 invoices"
    assert euros.find("div", **{"data-figure": "dso-30"}).text == "DSO, last 30 days 160.1 days invoiced: €1,600.00"
    assert euros.find("div", **{"data-figure": "dso-90"}).text == "DSO, last 90 days 167.1 days invoiced: €4,600.00"
    assert euros.find("div", **{"data-figure": "received"}).text == "Received today €600.00 this week: €1,100.00"
    assert euros.find("div", **{"data-figure": "disputes"}).text == "Open disputes 1 €3,000.00"
    assert euros.find("div", **{"data-figure": "attention"}).text == "Money needing attention €10.00 1 payment"
    dollars = page(response).find("section", **{"data-currency": "USD"})
    assert dollars.find("div", **{"data-figure": "receivable"}).text == "Receivable $100.00 1 open invoice"


def test_the_dashboard_charts_aging_in_bars_proportional_to_the_amounts(ledger, staff_client):
    chart = page(staff_client.get("/collections/")).find("section", **{"data-currency": "EUR"}).find("svg")

    widths = {bar.attrs["class"].split()[-1]: float(bar.attrs["width"]) for bar in chart.find_all("rect")}
    # The largest bucket (61-90 days, 3,900) is the full 200 units; the others in proportion.
    assert widths == {"bar-current": pytest.approx(200 * 1240 / 3900, abs=0.05),
                      "bar-days_1_30": pytest.approx(200 * 2200 / 3900, abs=0.05),
                      "bar-days_31_60": pytest.approx(200 * 800 / 3900, abs=0.05),
                      "bar-days_61_90": 200.0, "bar-over_90": pytest.approx(200 * 400 / 3900, abs=0.05)}
    assert "€3,900.00" in chart.text


def test_the_dashboard_lists_customers_oldest_overdue_first_with_their_aging(ledger, staff_client):
    rows = table_rows(staff_client.get("/collections/"), "balances")

    assert rows[:2] == [
        ["Alpha Foods", "€5,790.00", "€990.00", "€1,500.00", "€0.00", "€3,000.00", "€300.00", "Jul 1, 2026"],
        ["Bravo Logistics", "€2,750.00", "€250.00", "€700.00", "€800.00", "€900.00", "€100.00", "Aug 26, 2026"],
    ]


def test_the_dashboard_with_nothing_owed(staff_client):
    assert "No customer owes anything yet." in visible_text(staff_client.get("/collections/"))


# --- Companies ---------------------------------------------------------------------------------


def test_the_companies_list_searches_and_sorts(ledger, staff_client):
    by_balance = staff_client.get("/collections/companies")
    found = staff_client.get("/collections/companies?q=bravo")
    by_name = staff_client.get("/collections/companies?sort=name")

    assert row_keys(by_balance, "data-company") == ["CUST-ALPHA", "CUST-BRAVO", "CUST-CHARLIE", "CUST-DELTA"]
    assert row_keys(found, "data-company") == ["CUST-BRAVO"]
    assert row_keys(by_name, "data-company") == ["CUST-ALPHA", "CUST-BRAVO", "CUST-CHARLIE", "CUST-DELTA"]


def test_the_companies_csv_is_every_row_of_the_list_with_the_filters_on_screen(ledger, make, staff_client):
    for n in range(30):
        make.invoice(make.company(name=f"Echo {n:02d}", ref=f"CUST-ECHO-{n:02d}"), total=1_00 * (n + 1))
    url = "/collections/companies?q=c&sort=oldest_overdue&per_page=25"

    rows = download_csv(staff_client, staff_client.get(url))

    listed = every_page(staff_client, url, "data-company")
    assert len(listed) > 25
    assert [row["company_ref"] for row in rows] == listed
    assert rows[0] == {"company_ref": "CUST-ALPHA", "company_name": "Alpha Foods", "currency": "EUR",
                       "balance": "5790.00", "current": "990.00", "days_1_30": "1500.00", "days_31_60": "0.00",
                       "days_61_90": "3000.00", "over_90": "300.00", "open_invoices": "4", "overdue_invoices": "3",
                       "oldest_overdue_due_date": "2026-07-01"}


def test_a_company_page_shows_its_invoices_payments_disputes_users_and_autopay(ledger, make, staff_client):
    make.user(ledger.a, email="payer@alpha.test")
    response = staff_client.get("/collections/companies/CUST-ALPHA")

    assert response.status_code == 200
    text = visible_text(response)
    assert sorted(row_keys(response, "data-invoice")) == ["A1", "A2", "A3", "A4", "A5", "A7"]
    assert [row[0] for row in table_rows(response, "balances")] == ["EUR"]
    assert "€5,790.00" in text
    assert len(table_rows(response, "payments")) == 3
    assert "Wrong price" in page(response).find("ul", class_="disputes").text
    assert "payer@alpha.test" in page(response).find("table", class_="users").text
    assert page(response).find("dd", **{"data-autopay-state": "off"})


def test_a_company_page_filters_its_invoices_as_the_customer_list_does(ledger, staff_client):
    overdue = staff_client.get("/collections/companies/CUST-ALPHA?status=overdue")
    searched = staff_client.get("/collections/companies/CUST-ALPHA?q=a7")

    assert sorted(row_keys(overdue, "data-invoice")) == ["A2", "A4"]
    assert row_keys(searched, "data-invoice") == ["A7"]


def test_a_company_pages_invoice_csv_is_its_list(ledger, staff_client):
    response = staff_client.get("/collections/companies/CUST-BRAVO?sort=amount&direction=asc&per_page=10")

    rows = download_csv(staff_client, response)

    assert [row["invoice_number"] for row in rows] == ["B4", "B5", "B1", "B2", "B3"]
    assert [row["invoice_number"] for row in rows] == row_keys(response, "data-invoice")


def test_an_unknown_company_is_404(staff_client):
    assert staff_client.get("/collections/companies/NOBODY").status_code == 404


# --- Invoice search ----------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "expected"), [
    ({"q": "a"}, ["A1", "A2", "A3", "A4", "A5", "A6", "A7"]),  # part of a number (drafts too, for staff)
    ({"company": "bravo", "status": "overdue"}, ["B1", "B2", "B3", "B4"]),
    ({"company": "cust-ch"}, ["C1"]),
    ({"status": "disputed"}, ["A3"]),
    ({"status": "draft"}, ["A6"]),
    ({"amount_min": "800", "amount_max": "1000"}, ["A1", "B2", "B3"]),
    ({"issued_from": "2026-10-26", "issued_to": "2026-11-01"}, ["A7", "B5", "C1"]),
    ({"q": "3000"}, ["A3"]),  # an amount
])
def test_invoice_search_across_companies(ledger, staff_client, query, expected):
    response = staff_client.get("/collections/invoices", query_string={**query, "per_page": 100})

    assert response.status_code == 200
    assert sorted(row_keys(response, "data-invoice")) == expected


def test_invoice_search_finds_a_purchase_order_by_part_of_it(make, staff_client):
    make.invoice(make.company(), number="INV-PO", po_number="PO-2026-ALPHA-17")

    response = staff_client.get("/collections/invoices?q=alpha-1")

    assert row_keys(response, "data-invoice") == ["INV-PO"]


def test_the_invoice_csv_is_every_page_of_the_search(ledger, staff_client):
    url = "/collections/invoices?q=&status=&sort=due_date&direction=asc&per_page=10"

    rows = download_csv(staff_client, staff_client.get(url))

    listed = every_page(staff_client, url, "data-invoice")
    assert len(listed) == 13  # two pages, drafts included
    assert [row["invoice_number"] for row in rows] == listed


def test_bad_filters_say_why_and_keep_what_was_typed(staff_client):
    for url in ("/collections/invoices?amount_min=lots&company=acme", "/collections/invoices.csv?amount_min=lots"):
        response = staff_client.get(url)
        assert response.status_code == 400
        assert "Amount from: Enter an amount such as 1234.56" in visible_text(response)
    assert page(response).find("input", name="amount_min").attrs["value"] == "lots"


# --- The staff invoice page --------------------------------------------------------------------


def invoice_id(db, number: str) -> int:
    return db.scalar(select(Invoice.id).where(Invoice.number == number))


def test_the_invoice_page_shows_lines_taxes_payments_credit_notes_disputes_and_history(ledger, db, make,
                                                                                      staff_client):
    a4 = db.scalar(select(Invoice).where(Invoice.number == "A4"))
    response = staff_client.get(f"/collections/invoices/{a4.id}")

    assert response.status_code == 200
    text = visible_text(response)
    assert table_rows(response, "lines") == [["Services", "1", "€400.00", "0 %", "€0.00", "€400.00"]]
    assert "Tax at 0 % on €400.00 €0.00" in page(response).find("table", class_="lines").text
    assert "Credit note applied — €100.00" in text
    assert page(response).find("ul", class_="credit-notes").text.startswith(date.today().strftime("%b"))
    assert "Invoice issued" in page(response).find("ol", class_="timeline").text

    a2 = staff_client.get(f"/collections/invoices/{invoice_id(db, 'A2')}")
    assert table_rows(a2, "invoice-payments")[0][1:] == ["Bank transfer", "TRF-A2", "Received", "€500.00", "€0.00"]
    a3 = staff_client.get(f"/collections/invoices/{invoice_id(db, 'A3')}")
    assert "Under review" in page(a3).find("ul", class_="disputes").text


def test_void_an_unpaid_invoice_closes_its_dispute(ledger, db, staff_client):
    a3 = invoice_id(db, "A3")

    response = staff_client.post(f"/collections/invoices/{a3}/void", data={"reason": "Wrong customer"})

    assert response.status_code == 303
    after = staff_client.get(f"/collections/invoices/{a3}")
    assert "Invoice A3 voided: it owes nothing now." in visible_text(after)
    assert "Closed: invoice cancelled" in page(after).find("ul", class_="disputes").text
    assert "Invoice voided — €3,000.00 — Wrong customer" in page(after).find("ol", class_="timeline").text


def test_void_is_refused_with_payments_or_without_a_reason(ledger, db, staff_client):
    a2 = invoice_id(db, "A2")

    paid = staff_client.post(f"/collections/invoices/{a2}/void", data={"reason": "Oops"})
    no_reason = staff_client.post(f"/collections/invoices/{invoice_id(db, 'B1')}/void", data={"reason": ""})

    assert paid.status_code == 409
    assert "An invoice with payments cannot be voided: refund them first." in visible_text(paid)
    assert no_reason.status_code == 400
    assert db.scalar(select(Invoice.voided_at).where(Invoice.number == "B1")) is None


# --- Payments ----------------------------------------------------------------------------------


def test_payments_newest_first_and_filtered(ledger, db, make, staff_client):
    from portal.payments.ledger import record_offline_payment
    from tests.builders import Builders

    failed = record_offline_payment(db, Builders.ACTOR, company=ledger.b,
                                    allocations=[(db.scalar(select(Invoice).where(Invoice.number == "B2")), 1_00)],
                                    method_summary="Cheque", reference="CHQ-1")
    failed.status = PaymentStatus.FAILED
    db.flush()

    def listed(**query):
        response = staff_client.get("/collections/payments", query_string=query)
        assert response.status_code == 200
        return [table_rows(response, "payments")[n][2] for n in range(len(row_keys(response, "data-payment")))] \
            if row_keys(response, "data-payment") else []

    # Dates: A7's (25 Nov, 00:30 Paris), A2's (23 Nov), B5's (22 Nov), A1's (1 Nov); the cheque is today's.
    assert listed() == ["B2", "A7", "A2", "B5", "A1"]
    assert listed(date_from="2026-11-22", date_to="2026-11-23") == ["A2", "B5"]
    assert listed(company="bravo") == ["B2", "B5"]
    assert listed(status="failed") == ["B2"]
    assert listed(method="offline", status="succeeded") == ["A7", "A2", "B5", "A1"]
    assert listed(method="card") == []


def test_the_payments_csv_is_every_page_of_the_list(ledger, staff_client):
    url = "/collections/payments?per_page=25&status=succeeded"

    rows = download_csv(staff_client, staff_client.get(url))

    assert [row["payment_id"] for row in rows] == every_page(staff_client, url, "data-payment")
    assert [row["invoices"] for row in rows] == ["A7", "A2", "B5", "A1"]
    assert rows[0]["date"] == "2026-11-24T23:30:00+00:00" and rows[0]["amount"] == "600.00"
