"""Customer pages say plainly what state things are in: statuses and history in words, nothing
to pay where nothing is owed, a way to try again after a failed payment, British formats for a
British customer, payments newest first a page at a time, and a favicon."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.audit import Actor
from portal.models import Payment, Role
from portal.payments import fake_gateway
from portal.payments.refunds import refund_allocation
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, visible_text
from tests.blueprints.test_pay_page import posted_form, save_card


@pytest.fixture
def gateway(app):
    return services_of(app).payments.gateway


@pytest.fixture
def company(make):
    return make.company(locale="en", currency="EUR")


@pytest.fixture
def admin(client, make, company):
    user = make.user(company, role=Role.ADMIN)
    client.post("/login", data={"email": user.email, "password": make.PASSWORD})
    set_language(client, "en")
    return user


def test_an_invoice_only_reduced_by_a_credit_note_says_so(client, make, company, admin):
    invoice = make.invoice(company, total=100_00, due_date=date.today() + timedelta(days=10))
    make.credit_note(invoice, 30_00)

    shown = visible_text(client.get(f"/invoices/{invoice.id}"))

    assert "Reduced by a credit note" in shown and "Partially paid" not in shown


def test_a_paid_invoice_offers_no_pay_form(client, make, company, admin, gateway):
    save_card(client, gateway)
    invoice = make.invoice(company, total=100_00)
    make.payment(invoice, 100_00)

    response = client.get(f"/payments/new?invoice={invoice.id}")

    assert response.status_code == 200
    assert "Nothing is left to pay on this invoice." in visible_text(response)
    assert not page(response).find_all("form", **{"data-pay-form": ""})
    assert not page(response).find_all("button", **{"data-pay": ""})


def test_a_failed_payment_offers_to_try_again_and_says_why_in_words(db, client, make, company, admin, gateway):
    invoice = make.invoice(company, total=80_00)
    saved = save_card(client, gateway, fake_gateway.DECLINED_ON_CHARGE, next_url=f"/payments/new?invoice={invoice.id}")
    declined = client.post("/payments", data=posted_form(client.get(saved.headers["Location"])))
    assert declined.status_code == 402
    payment = db.scalar(select(Payment).where(Payment.company_id == company.id))

    shown = client.get(f"/payments/{payment.id}")

    assert "The card was declined. Nothing was charged: try another card." in visible_text(shown)
    retry = page(shown).find("a", class_="button")
    assert retry.text == "Try again" and retry.attrs["href"] == f"/payments/new?invoice={invoice.id}"


def test_the_history_of_an_invoice_is_in_words(app, db, client, make, company, admin, gateway):
    invoice = make.invoice(company, total=80_00)
    saved = save_card(client, gateway, next_url=f"/payments/new?invoice={invoice.id}")
    assert client.post("/payments", data=posted_form(client.get(saved.headers["Location"]))).status_code == 303
    payment = db.scalar(select(Payment).where(Payment.company_id == company.id))
    refund_allocation(db, services_of(app).payments, Actor.user(make.staff()), payment_id=payment.id,
                      allocation_id=payment.allocations[0].id, amount=20_00)

    history = page(client.get(f"/invoices/{invoice.id}")).find("ol", class_="timeline").text

    assert "Payment received — €80.00" in history
    assert "Refund asked for — €20.00" in history
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\b", history), history  # no raw key such as payment.started


def test_a_british_customer_reads_british_dates_and_times(db, client, make):
    company = make.company(locale="en", currency="GBP")
    company.region = "GB"
    invoice = make.invoice(company, total=1234_56, issue_date=date(2026, 11, 15), due_date=date(2026, 12, 15))
    user = make.user(company, role=Role.ADMIN)
    client.post("/login", data={"email": user.email, "password": make.PASSWORD})

    shown = client.get(f"/invoices/{invoice.id}").get_data(as_text=True)

    assert '<html lang="en-GB">' in shown
    assert "15 November 2026" in shown and "November 15, 2026" not in shown
    assert "£1,234.56" in shown


def test_an_american_formatted_english_stays_the_default_without_a_region(client, make, company, admin):
    invoice = make.invoice(company, total=10_00, issue_date=date(2026, 11, 15))

    shown = client.get(f"/invoices/{invoice.id}").get_data(as_text=True)

    assert '<html lang="en">' in shown and "November 15, 2026" in shown


def test_payments_are_listed_newest_first_a_page_at_a_time(db, client, make, company, admin):
    invoice = make.invoice(company, total=1_000_00)
    made = []
    for day in range(30):
        payment = make.payment(invoice, 1_00)
        payment.created_at = payment.succeeded_at = datetime(2026, 10, 1, tzinfo=UTC) + timedelta(days=day)
        made.append(payment)
    db.flush()

    first, second = client.get("/payments"), client.get("/payments?page=2")

    def dates(response):
        return [row.find("td").text for row in page(response).find("table", class_="invoices").find("tbody").find_all("tr")]

    assert dates(first)[:2] == ["Oct 30, 2026", "Oct 29, 2026"] and len(dates(first)) == 25
    assert dates(second) == ["Oct 5, 2026", "Oct 4, 2026", "Oct 3, 2026", "Oct 2, 2026", "Oct 1, 2026"]
    assert "Page 1 of 2" in visible_text(first)
    assert page(first).find("a", rel="next").attrs["href"] == "/payments?page=2"
    assert client.get("/payments?page=99").status_code == 200


def test_every_page_names_a_favicon_that_is_served(client, make, company, admin):
    icon = page(client.get("/invoices")).find("link", rel="icon").attrs["href"]
    guest_icon = page(client.get("/pay/not-a-link")).find("link", rel="icon").attrs["href"]

    served = client.get(icon)

    assert icon == guest_icon and served.status_code == 200 and served.mimetype == "image/svg+xml"
