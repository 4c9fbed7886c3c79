"""The clerk's invoice pages through HTTP: the list (full page and htmx partial), detail, PDF."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from portal import clock
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, void_invoice
from portal.payments.ledger import record_offline_payment
from tests.blueprints.pages import listed_invoice_numbers, page, table_rows, visible_text
from tests.builders import Builders

pytestmark = pytest.mark.usefixtures("english")

HTMX = {"HX-Request": "true"}
HISTORY_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}


@pytest.fixture
def company(make):
    return make.company(name="Alpha Widgets SAS", locale="en")


@pytest.fixture
def ledger(make, company):
    """Invoices in every state, dated around today; amounts in whole euros make the sums easy."""
    today = clock.today()

    def invoice(number, euros, issued, due, **kwargs):
        return make.invoice(company, number=number, total=euros * 100, issue_date=today + timedelta(days=issued),
                            due_date=today + timedelta(days=due), **kwargs)

    overdue = invoice("INV-OVERDUE", 100, -60, -30, po_number="PO-7001")
    partial = invoice("INV-PARTIAL", 200, -50, -1)
    make.payment(partial, 50_00)
    due_today = invoice("INV-TODAY", 300, -20, 0)
    credited = invoice("INV-CREDITED", 400, -5, 30)
    make.credit_note(credited, 250_00)
    later = invoice("INV-LATER", 500, 0, 31)
    paid = invoice("INV-PAID", 600, -40, -10)
    make.payment(paid, 600_00)
    void = invoice("INV-VOID", 700, -45, -15)
    void_invoice(make.session, Builders.ACTOR, void, "Sent twice")
    invoice("INV-DRAFT", 800, -70, -40, issue=False)
    # Another company's overdue invoice, which must count nowhere here.
    make.invoice(make.company(locale="en"), number="INV-OTHER", total=900_00,
                 issue_date=today - timedelta(days=60), due_date=today - timedelta(days=30))
    make.session.commit()
    return SimpleNamespace(overdue=overdue, partial=partial, due_today=due_today, credited=credited,
                           later=later, paid=paid, void=void)


@pytest.fixture
def clerk_client(make, company, login_as):
    return login_as(make.user(company))


def listed(client, **params) -> list[str]:
    response = client.get("/invoices", query_string=params, headers=HTMX)
    assert response.status_code == 200, visible_text(response)
    return listed_invoice_numbers(response)


# --- The summary: what the company owes -------------------------------------------------------


def test_the_summary_shows_total_due_overdue_and_due_in_the_next_30_days(ledger, clerk_client):
    response = clerk_client.get("/invoices")

    summary = page(response).find("section", class_="owed").text
    # Due: 100 + (200 - 50) + 300 + (400 - 250) + 500; paid, void, draft and another company's count nothing.
    # Overdue: due before today (yesterday included). Due soon: today up to today + 30, both included.
    assert summary == ("Total due €1,200.00 5 invoices "
                       "Overdue €250.00 "
                       "Due in the next 30 days €450.00")


def test_the_summary_says_there_is_nothing_to_pay_when_all_is_paid(make, company, clerk_client):
    paid = make.invoice(company, total=120_00)
    make.payment(paid, 120_00)
    make.session.commit()

    summary = page(clerk_client.get("/invoices")).find("section", class_="owed").text

    assert summary == "Total due Nothing to pay"


# --- Filters, search, sort and pages through the query string ---------------------------------


def test_without_filters_the_list_shows_every_issued_invoice_latest_due_first(ledger, clerk_client):
    assert listed(clerk_client) == [
        "INV-LATER", "INV-CREDITED", "INV-TODAY", "INV-PARTIAL", "INV-PAID", "INV-VOID", "INV-OVERDUE",
    ]


def test_each_row_shows_the_invoice_its_amounts_and_status(ledger, clerk_client):
    rows = table_rows(clerk_client.get("/invoices", query_string={"q": "INV-PARTIAL"}), "invoices")

    # The first cell holds the "select to pay" box.
    [(_select, number, po, issued, due, total, amount_due, status, pdf)] = rows
    assert (number, total, amount_due, status, pdf) == ("INV-PARTIAL", "€200.00", "€150.00", "Overdue", "PDF")


def test_a_row_writes_the_erps_text_as_text(make, company, clerk_client):
    # Numbers and PO numbers come from the supplier's ERP: markup in them is shown, never run.
    make.invoice(company, number="INV-<b>1</b>", po_number='PO "7" & <i>co</i>', total=100_00)
    make.session.commit()

    html = clerk_client.get("/invoices").get_data(as_text=True)
    [(_select, number, po, *_rest)] = table_rows(clerk_client.get("/invoices"), "invoices")

    assert (number, po) == ("INV-<b>1</b>", 'PO "7" & <i>co</i>')
    assert "<b>1</b>" not in html and "<i>co</i>" not in html
    assert 'aria-label="Select INV-&lt;b&gt;1&lt;/b&gt; to pay"' in html


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("overdue", ["INV-OVERDUE", "INV-PARTIAL"]),
        ("partially_paid", []),
        ("credited", ["INV-CREDITED"]),
        ("open", ["INV-LATER", "INV-TODAY"]),
        ("paid", ["INV-PAID"]),
        ("void", ["INV-VOID"]),
    ],
)
def test_the_status_filter(ledger, clerk_client, status, expected):
    assert sorted(listed(clerk_client, status=status)) == sorted(expected)


def test_the_issue_date_range_includes_both_ends(ledger, clerk_client):
    today = clock.today()
    numbers = listed(clerk_client, issued_from=(today - timedelta(days=45)).isoformat(),
                     issued_to=(today - timedelta(days=20)).isoformat())

    assert sorted(numbers) == ["INV-PAID", "INV-TODAY", "INV-VOID"]


def test_the_amount_range_includes_both_ends_and_reads_decimal_commas(ledger, clerk_client):
    assert sorted(listed(clerk_client, amount_min="300", amount_max="500,00")) == [
        "INV-CREDITED", "INV-LATER", "INV-TODAY",
    ]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("PO-7001", ["INV-OVERDUE"]),
        ("inv-pa", ["INV-PAID", "INV-PARTIAL"]),
        ("150", ["INV-CREDITED", "INV-PARTIAL"]),  # what is still due on each
        ("600.00", ["INV-PAID"]),  # the total
        ("INV-DRAFT", []),
        ("100%", []),
    ],
)
def test_the_search_matches_number_po_number_and_amounts(ledger, clerk_client, search, expected):
    assert sorted(listed(clerk_client, q=search)) == expected


@pytest.mark.parametrize(
    ("sort", "direction", "expected"),
    [
        ("amount", "asc", ["INV-OVERDUE", "INV-PARTIAL", "INV-TODAY", "INV-CREDITED", "INV-LATER", "INV-PAID",
                           "INV-VOID"]),
        ("number", "asc", ["INV-CREDITED", "INV-LATER", "INV-OVERDUE", "INV-PAID", "INV-PARTIAL", "INV-TODAY",
                           "INV-VOID"]),
        ("issue_date", "desc", ["INV-LATER", "INV-CREDITED", "INV-TODAY", "INV-PAID", "INV-VOID", "INV-PARTIAL",
                                "INV-OVERDUE"]),
        ("due_date", "asc", ["INV-OVERDUE", "INV-VOID", "INV-PAID", "INV-PARTIAL", "INV-TODAY", "INV-CREDITED",
                             "INV-LATER"]),
    ],
)
def test_sorting(ledger, clerk_client, sort, direction, expected):
    assert listed(clerk_client, sort=sort, direction=direction) == expected


@pytest.fixture
def twelve_invoices(make, company):
    invoices = [make.invoice(company, number=f"INV-P-{n:02d}") for n in range(1, 13)]
    make.session.commit()
    return invoices


def pager(response):
    nav = page(response).find("nav", class_="pager")
    links = {a.attrs["rel"]: a.attrs["href"] for a in nav.find_all("a")}
    return nav.find("span").text, links


def test_pages_split_the_list_and_link_to_each_other_keeping_the_filters(twelve_invoices, clerk_client):
    first = clerk_client.get("/invoices", query_string={"sort": "number", "direction": "asc", "per_page": "10"})

    assert listed_invoice_numbers(first) == [f"INV-P-{n:02d}" for n in range(1, 11)]
    label, links = pager(first)
    assert label == "Page 1 of 2"
    assert set(links) == {"next"}
    next_query = parse_qs(urlsplit(links["next"]).query)
    assert next_query == {"sort": ["number"], "direction": ["asc"], "per_page": ["10"], "page": ["2"]}

    second = clerk_client.get(links["next"])

    assert listed_invoice_numbers(second) == ["INV-P-11", "INV-P-12"]
    label, links = pager(second)
    assert label == "Page 2 of 2"
    assert set(links) == {"prev"}
    assert parse_qs(urlsplit(links["prev"]).query)["page"] == ["1"]


def test_a_page_past_the_end_shows_the_last_page(twelve_invoices, clerk_client):
    response = clerk_client.get("/invoices", query_string={"sort": "number", "direction": "asc",
                                                           "per_page": "10", "page": "999"})

    assert response.status_code == 200
    assert listed_invoice_numbers(response) == ["INV-P-11", "INV-P-12"]
    assert pager(response)[0] == "Page 2 of 2"


def test_filters_that_match_nothing_say_so(ledger, clerk_client):
    response = clerk_client.get("/invoices", query_string={"q": "no such invoice"})

    assert response.status_code == 200
    assert "No invoice matches these filters." in visible_text(response)


def test_the_filter_form_shows_what_was_asked(ledger, clerk_client):
    form = page(clerk_client.get("/invoices", query_string={"q": "PO-7001", "status": "overdue", "sort": "amount"}))

    assert form.find("input", name="q").attrs["value"] == "PO-7001"
    assert form.find("select", name="status").find("option", value="overdue").attrs.get("selected") is not None
    assert form.find("select", name="sort").find("option", value="amount").attrs.get("selected") is not None


# --- htmx: the partial for htmx, the full page otherwise --------------------------------------


def test_an_htmx_request_gets_only_the_results_partial(ledger, clerk_client):
    response = clerk_client.get("/invoices", query_string={"status": "paid"}, headers=HTMX)

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body and 'id="filters"' not in body and "Total due" not in body
    assert listed_invoice_numbers(response) == ["INV-PAID"]
    assert "HX-Request" in response.vary


def test_a_normal_request_gets_the_full_page(ledger, clerk_client):
    response = clerk_client.get("/invoices", query_string={"status": "paid"})

    body = response.get_data(as_text=True)
    assert body.lstrip().startswith("<!doctype html>")
    document = page(response)
    document.find("form", id="filters")
    assert listed_invoice_numbers(response) == ["INV-PAID"]
    assert document.find("div", id="results").find("table", class_="invoices")
    assert "HX-Request" in response.vary


def test_an_htmx_history_restore_gets_the_full_page(ledger, clerk_client):
    response = clerk_client.get("/invoices", query_string={"status": "paid"}, headers=HISTORY_RESTORE)

    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)
    page(response).find("form", id="filters")
    assert listed_invoice_numbers(response) == ["INV-PAID"]
    assert "HX-Request" in response.vary


# --- Bad input: a clear 400, never a 500 -----------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "unknown"}, "Status: Not a valid choice."),
        ({"page": "-1"}, "Page: Number must be between 1 and 1000000."),
        ({"page": "0"}, "Page: Number must be between 1 and 1000000."),
        ({"page": "abc"}, "Page: Not a valid integer value."),
        ({"page": "99999999999999999999999"}, "Page: Number must be between 1 and 1000000."),
        ({"per_page": "7"}, "Per page: Not a valid choice."),
        ({"sort": "evil"}, "Sort by: Not a valid choice."),
        ({"sort": "amount_total; DROP TABLE invoice"}, "Sort by: Not a valid choice."),
        ({"direction": "x"}, "Order: Not a valid choice."),
        ({"amount_min": "abc"}, "Amount from: Enter an amount such as 1234.56."),
        ({"amount_max": "-5"}, "Amount up to: Enter an amount such as 1234.56."),
        ({"amount_min": "12.345.6"}, "Amount from: Enter an amount such as 1234.56."),
        ({"issued_from": "2026-13-45"}, "Issued from: Not a valid date value."),
        ({"issued_from": "2026-03-10", "issued_to": "2026-03-09"},
         "Issued until: The end date is before the start date."),
        ({"q": "x" * 101}, "Search: Field cannot be longer than 100 characters."),
    ],
)
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_bad_filters_get_400_and_say_what_is_wrong(ledger, clerk_client, params, message, headers):
    response = clerk_client.get("/invoices", query_string=params, headers=headers)

    assert response.status_code == 400
    alert = page(response).find("p", class_="flash-error").text
    assert alert.startswith("Some filters are not valid:")
    assert message in alert
    assert listed_invoice_numbers(response) == []


def test_a_bad_filter_is_also_marked_on_its_field(ledger, clerk_client):
    response = clerk_client.get("/invoices", query_string={"amount_min": "abc"})

    field = page(response).find("label", class_="has-error")
    assert field.find("input").attrs["name"] == "amount_min"
    assert field.find("small", class_="error").text == "Enter an amount such as 1234.56."


def test_a_bad_filter_keeps_the_rest_of_the_page(ledger, clerk_client):
    response = clerk_client.get("/invoices", query_string={"status": "unknown", "q": "PO-7001"})

    document = page(response)
    assert document.find("section", class_="owed").text.startswith("Total due €1,200.00")
    assert document.find("input", name="q").attrs["value"] == "PO-7001"


def test_a_100_character_search_is_accepted(ledger, clerk_client):
    assert clerk_client.get("/invoices", query_string={"q": "x" * 100}).status_code == 200


def test_a_10_mb_query_string_gets_414_and_a_clear_page(clerk_client):
    response = clerk_client.get("/invoices", query_string="q=" + "a" * (10 * 1024 * 1024))

    assert response.status_code == 414
    assert "That address is too long. Shorten the search or the filters and try again." in visible_text(response)
    assert len(response.get_data()) < 20_000


def test_the_query_string_limit_is_exactly_the_configured_size(app, ledger, clerk_client):
    limit = app.config["ACQUIT_MAX_QUERY_STRING_BYTES"]
    padding = "&utm=" + "a" * (limit - len("status=paid&utm="))

    assert clerk_client.get("/invoices?status=paid" + padding).status_code == 200
    assert clerk_client.get("/invoices?status=paid" + padding + "a").status_code == 414


# --- The detail page -------------------------------------------------------------------------


@pytest.fixture
def settled_invoice(make, company):
    """Two lines with different tax rates, part paid by transfer and part credited."""
    today = clock.today()
    invoice = create_invoice(
        make.session, Builders.ACTOR, company=company, number="INV-2026-0042", currency="EUR",
        issue_date=today - timedelta(days=10), due_date=today + timedelta(days=20), po_number="PO-555",
        lines=[
            LineInput(description="Consulting days", quantity=Decimal(3), unit_amount=150_00,
                      tax_rate=Decimal("20")),
            # 99.99 at 5.5 % is 5.49945 of tax: rounded half up on the line to 5.50.
            LineInput(description="Hosting (monthly)", quantity=Decimal(1), unit_amount=99_99,
                      tax_rate=Decimal("5.5")),
        ],
    )
    record_offline_payment(make.session, Builders.ACTOR, company=company, allocations=[(invoice, 100_00)],
                           method_summary="Bank transfer", reference="TRF-2026-0099")
    issue_credit_note(make.session, Builders.ACTOR, invoice=invoice, number="CN-2026-0007", amount=45_49,
                      issue_date=today, reason="Damaged goods")
    make.session.commit()
    return invoice


def test_the_detail_page_shows_lines_taxes_totals_and_what_is_due(settled_invoice, clerk_client):
    response = clerk_client.get(f"/invoices/{settled_invoice.id}")

    assert response.status_code == 200
    document = page(response)
    assert document.find("h1").text == "Invoice INV-2026-0042 Partially paid"
    assert "PO number PO-555" in document.find("dl", class_="facts").text
    assert table_rows(response, "lines") == [
        ["Consulting days", "3", "€150.00", "20 %", "€90.00", "€450.00"],
        ["Hosting (monthly)", "1", "€99.99", "5.5 %", "€5.50", "€99.99"],
    ]
    totals = [row.text for row in document.find("table", class_="lines").find("tfoot").find_all("tr")]
    assert totals == [
        "Total excl. tax €549.99",
        "Tax €95.50",
        "Total incl. tax €645.49",
        "Paid −€100.00",
        "Credited −€45.49",
        "Amount due €500.00",
    ]


def test_the_detail_page_lists_the_payments_and_credit_notes_applied(settled_invoice, clerk_client):
    response = clerk_client.get(f"/invoices/{settled_invoice.id}")

    rows = [row[1:] for row in table_rows(response, "settlements")]
    assert rows == [
        ["Payment", "TRF-2026-0099", "Bank transfer", "€100.00"],
        ["Credit note", "CN-2026-0007 · PDF · Factur-X", "Damaged goods", "€45.49"],
    ]


def test_the_detail_page_shows_the_invoices_history(settled_invoice, clerk_client):
    response = clerk_client.get(f"/invoices/{settled_invoice.id}")

    events = [item.text.removeprefix(item.find("time").text).strip()
              for item in page(response).find("ol", class_="timeline").find_all("li")]
    assert events == [
        "Invoice created — €645.49",
        "Invoice issued — €645.49",
        "Payment received — €100.00",
        "Credit note applied — €45.49",
    ]


def test_an_unsettled_invoice_says_nothing_was_paid_yet(make, company, clerk_client):
    invoice = make.invoice(company, total=80_00)
    make.session.commit()

    response = clerk_client.get(f"/invoices/{invoice.id}")

    assert "No payment or credit note yet." in visible_text(response)
    assert page(response).find("tr", class_="due").text == "Amount due €80.00"


def test_a_void_invoice_shows_void_and_owes_nothing(make, company, clerk_client):
    invoice = make.invoice(company, number="INV-VOIDED", total=250_00)
    make.credit_note(invoice, 50_00)
    void_invoice(make.session, Builders.ACTOR, invoice, "Issued to the wrong entity")
    make.session.commit()

    response = clerk_client.get(f"/invoices/{invoice.id}")

    document = page(response)
    assert document.find("h1").text == "Invoice INV-VOIDED Void"
    assert "Issued to the wrong entity" in document.find("dl", class_="facts").text
    assert document.find("tr", class_="due").text == "Amount due €0.00"
    assert "Invoice voided" in document.find("ol", class_="timeline").text
    assert listed(clerk_client, q="INV-VOIDED") == ["INV-VOIDED"]
    [row] = table_rows(clerk_client.get("/invoices", query_string={"q": "INV-VOIDED"}), "invoices")
    assert (row[6], row[7]) == ("€0.00", "Void")


# --- The PDF ---------------------------------------------------------------------------------


def test_the_pdf_downloads_as_an_attachment_named_after_the_invoice(settled_invoice, clerk_client):
    response = clerk_client.get(f"/invoices/{settled_invoice.id}/pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="INV-2026-0042.pdf"'
    assert response.data.startswith(b"%PDF-")
    assert response.data.rstrip().endswith(b"%%EOF")
    # The text is drawn with a subset font, so only the document's metadata can be read back.
    assert b"/Title (Invoice INV-2026-0042)" in response.data


def test_the_pdf_of_a_void_invoice_still_downloads(make, company, clerk_client):
    invoice = make.invoice(company, number="INV-VOID-PDF")
    void_invoice(make.session, Builders.ACTOR, invoice, "Duplicate")
    make.session.commit()

    response = clerk_client.get(f"/invoices/{invoice.id}/pdf")

    assert response.status_code == 200
    assert response.data.startswith(b"%PDF-")
