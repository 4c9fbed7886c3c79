"""Turning autopay on in a real browser, as a payer would: from the navigation to the autopay page,
add a card in localstripe's Card Element, choose the terms, read the authorisation, accept it;
then see the invoice marked in the list, and stop autopay again.

What counts is read where it lives: the enrolment in the database holds the very text the page
showed (the browser posts it back with its own line breaks), who accepted it and from where.
"""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import clock
from portal.models import AutopayEnrolment, AutopayStatus
from tests.browser.conftest import see_what_the_server_committed

pytestmark = pytest.mark.browser

VISA = "4242424242424242"


@pytest.fixture
def payer(live_make, live_db):
    """A company with two invoices due in three weeks (one of €2,000.00) and a payer; committed."""
    company = live_make.company(locale="en")
    invoice = live_make.invoice(company, total=12_345, due_date=clock.today() + timedelta(days=21))
    large = live_make.invoice(company, total=200_000, due_date=clock.today() + timedelta(days=22))
    user = live_make.user(company)
    live_db.commit()
    return user, company, invoice, large


def enrolments(session, company) -> list[AutopayEnrolment]:
    see_what_the_server_committed(session)
    return list(session.scalars(select(AutopayEnrolment).where(AutopayEnrolment.company_id == company.id)))


def test_a_payer_turns_autopay_on_and_off_through_the_pages(page, sign_in, enter_card, payer, live_db, stripe_server):
    user, company, invoice, large = payer
    sign_in(page, user)

    page.get_by_role("link", name="Autopay", exact=True).click()
    page.wait_for_url("**/autopay")
    expect(page.locator("[data-autopay-state]")).to_have_attribute("data-autopay-state", "off")

    page.get_by_role("link", name="Add a card").click()
    page.wait_for_url(re.compile(r"/payments/cards/new\?next=/autopay$"))
    form = page.locator("form[data-card-setup]")
    enter_card(form, VISA)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/autopay\?card=\d+$"))
    expect(page.get_by_label(re.compile(r"Visa •••• 4242"))).to_be_checked()

    page.get_by_label("When to charge each invoice").select_option(label="3 days before the due date")
    page.get_by_label("Maximum per invoice (optional)").fill("1,000")
    page.get_by_role("button", name="Continue: read the authorisation").click()
    page.wait_for_url("**/autopay/review?*")
    mandate = page.locator("[data-mandate]")
    expect(mandate).to_contain_text("3 days before its due date")
    expect(mandate).to_contain_text("An invoice of more than €1,000.00 is charged only once")
    shown = page.locator("input[name=mandate]").input_value()
    assert shown.count("\n") == 3

    page.get_by_role("button", name="Accept and turn autopay on").click()
    expect(page.get_by_role("alert")).to_have_text("Tick the box to accept the authorisation.")
    assert enrolments(live_db, company) == []
    page.get_by_label("I have read this authorisation and I accept it").check()
    page.get_by_role("button", name="Accept and turn autopay on").click()

    page.wait_for_url("**/autopay")
    expect(page.locator(".flash-success")).to_contain_text(
        "Autopay is on: your invoices will be charged to Visa •••• 4242")
    expect(page.locator("[data-autopay-state]")).to_have_attribute("data-autopay-state", "active")
    charge_on = invoice.due_date - timedelta(days=3)
    rows = page.locator("table.upcoming-charges tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(invoice.number)
    expect(rows.nth(0)).to_contain_text("Will be charged")
    expect(rows.nth(1)).to_contain_text("Not charged: above your maximum.")

    # Approving the €2,000.00 invoice swaps the list in place (htmx), the page staying where it is.
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name=f"Approve charging {large.number}").click()
    expect(page.locator("#upcoming .flash-success")).to_have_text(
        f"Invoice {large.number} approved: autopay will charge it.")
    expect(rows.nth(1)).to_contain_text("Will be charged")
    assert page.evaluate("window.notReloaded") is True
    [stored] = enrolments(live_db, company)
    assert stored.mandate_text == shown
    assert (stored.accepted_by_user_id, stored.accepted_ip) == (user.id, "127.0.0.1")
    assert (stored.days_before_due, stored.max_amount, stored.status) == (3, 100_000, AutopayStatus.ACTIVE)

    page.get_by_role("link", name="Invoices").click()
    page.wait_for_url("**/invoices")
    expect(page.locator(f"tr:has(a:text-is('{invoice.number}')) .autopay-date")).to_have_attribute(
        "data-autopay-date", charge_on.isoformat())

    page.get_by_role("link", name="Autopay", exact=True).click()
    page.get_by_role("link", name="Stop autopay…").click()
    expect(page.locator("#stop-autopay")).to_contain_text("Stop autopay now?")
    assert page.url.endswith("/autopay"), "the question is asked in place"
    page.get_by_role("button", name="Yes, stop autopay").click()
    expect(page.locator("[data-autopay-state]")).to_have_attribute("data-autopay-state", "off")
    expect(page.locator(".flash-success")).to_have_text(
        "Autopay is off. No invoice will be charged automatically from now on.")
    [stopped] = enrolments(live_db, company)
    assert stopped.status == AutopayStatus.CANCELLED
