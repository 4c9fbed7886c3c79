"""The invoice list and an invoice's page say when autopay will charge an invoice, in the page's
language, and the list keeps its fixed number of SQL statements with autopay on."""

from datetime import timedelta

import pytest
from babel.dates import format_date

from portal import clock
from portal.models import Role
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, visible_text
from tests.blueprints.test_autopay_views import enrolled, save_card
from tests.blueprints.test_invoice_list_queries import counting_queries, with_empty_page_cache

HTMX = {"HX-Request": "true"}


@pytest.fixture
def company(make):
    return make.company(currency="EUR", locale="en")


@pytest.fixture
def invoices(make, company):
    """One invoice autopay will charge, one above the €100.00 maximum, one already paid."""
    today = clock.today()
    charged = make.invoice(company, total=80_00, number="INV-AUTO", due_date=today + timedelta(days=40))
    above = make.invoice(company, total=500_00, number="INV-ABOVE", due_date=today + timedelta(days=41))
    paid = make.invoice(company, total=60_00, number="INV-PAID", due_date=today + timedelta(days=42))
    make.payment(paid, paid.amount_total)
    return charged, above, paid


@pytest.fixture
def payer_on_autopay(app, make, company, client, login_as, invoices):
    payer = make.user(company, role=Role.ADMIN)
    card = save_card(app, make, company, payer)
    login_as(payer)
    set_language(client, "en")
    enrolled(client, card, maximum="100")
    return client


def autopay_marks(response) -> dict[str, str]:
    """Each listed invoice's autopay mark, by number."""
    rows = page(response).find("table", class_="invoices").find("tbody").find_all("tr")
    marks = {}
    for row in rows:
        found = row.find_all("small", class_="autopay-date")
        marks[row.find("td", class_="number").text] = found[0].text if found else ""
    return marks


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_the_list_marks_the_invoices_autopay_will_charge_with_the_date(payer_on_autopay, invoices, headers):
    charged, above, paid = invoices

    response = payer_on_autopay.get("/invoices", headers=headers)

    assert ("<html" in response.get_data(as_text=True)) is (not headers)
    day = f"{charged.due_date.day} {format_date(charged.due_date, 'MMM', locale='en')}"
    assert autopay_marks(response) == {"INV-AUTO": f"Autopay on {day}", "INV-ABOVE": "", "INV-PAID": ""}


def test_the_list_in_french_says_prelevement(payer_on_autopay, client, invoices):
    charged, *_ = invoices
    set_language(client, "fr")

    response = payer_on_autopay.get("/invoices")

    day = format_date(charged.due_date, "d MMM", locale="fr")
    assert autopay_marks(response)["INV-AUTO"] == f"Prélèvement le {day}"


def test_without_autopay_nothing_is_marked(make, company, client, login_as, invoices):
    login_as(make.user(company))
    set_language(client, "en")

    assert set(autopay_marks(client.get("/invoices")).values()) == {""}


def test_the_invoice_page_says_when_autopay_will_charge_it(payer_on_autopay, invoices):
    charged, above, _ = invoices

    shown = visible_text(payer_on_autopay.get(f"/invoices/{charged.id}"))
    not_charged = visible_text(payer_on_autopay.get(f"/invoices/{above.id}"))

    assert f"Autopay Will be charged on {format_date(charged.due_date, 'long', locale='en')}" in shown
    assert "Autopay Not charged: above your maximum. · Approve it on the autopay page" in not_charged


def test_a_viewer_sees_the_marks_too(payer_on_autopay, make, company, client, login_as):
    client.post("/logout")
    login_as(make.user(company, role=Role.VIEWER))
    set_language(client, "en")

    assert autopay_marks(client.get("/invoices"))["INV-AUTO"].startswith("Autopay on ")


def test_the_list_issues_the_same_queries_for_10_and_100_rows_with_autopay_on(app, make, company, payer_on_autopay,
                                                                           engine):
    today = clock.today()
    for n in range(110):
        make.invoice(company, total=1_000 + n, due_date=today + timedelta(days=5 + n % 20))
    counts = []
    for per_page in (10, 100):
        with_empty_page_cache(app)
        with counting_queries(engine) as statements:
            response = payer_on_autopay.get(f"/invoices?per_page={per_page}&sort=due_date&direction=asc")
        assert response.status_code == 200
        assert sum(1 for mark in autopay_marks(response).values() if mark) == per_page
        counts.append(len(statements))

    assert counts[0] == counts[1]
