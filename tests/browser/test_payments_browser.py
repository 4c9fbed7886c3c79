"""Saving a card and paying invoices in a real browser, with localstripe's Stripe.js.

Everything goes through the pages a payer uses: sign in, add a card in the Card Element,
tick invoices in the list, pay, land on the receipt; and for a card that asks for 3-D
Secure, confirm in the bank's window. What counts is then read where it lives: the
invoices in the database, the charge at localstripe.
"""

import re

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.billing.status import InvoiceStatus, invoice_status
from portal.models import Payment, PaymentStatus
from tests.browser.conftest import see_what_the_server_committed

pytestmark = pytest.mark.browser

VISA = "4242424242424242"
NEEDS_AUTHENTICATION = "4000002760003184"
CARD_FORM = "form[data-card-setup]"
RECEIPT_URL = re.compile(r"/payments/(\d+)$")


@pytest.fixture
def payer(live_make, live_db):
    """A company with three open invoices and a person allowed to pay them; committed."""
    company = live_make.company(locale="en")
    invoices = [live_make.invoice(company, total=total) for total in (12_345, 6_789, 50_000)]
    user = live_make.user(company)
    live_db.commit()
    return user, company, invoices


def save_card(page, enter_card, number: str, *, authenticate: bool = False) -> None:
    """Add a card from the saved-cards page, as a payer would."""
    page.goto("/payments/cards")
    page.get_by_role("link", name="Add a card").click()
    page.wait_for_url("**/payments/cards/new")
    form = page.locator(CARD_FORM)
    enter_card(form, number)
    # The form's own button: the header's "Sign out" is a submit button too.
    form.locator("button[type=submit]").click()
    if authenticate:
        page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url("**/payments/cards")


def test_a_payer_saves_a_card_and_pays_two_invoices_with_one_charge(page, sign_in, enter_card, payer, live_db,
                                                                   stripe_server):
    user, company, (first, second, untouched) = payer
    sign_in(page, user)

    save_card(page, enter_card, VISA)
    expect(page.locator(".flash-success")).to_contain_text("Card Visa •••• 4242 saved.")
    expect(page.locator("ul.saved-cards li")).to_have_count(1)
    expect(page.locator("ul.saved-cards li strong")).to_have_text("Visa •••• 4242")

    page.get_by_role("link", name="Invoices").click()
    page.wait_for_url("**/invoices")
    page.get_by_label(f"Select {first.number} to pay").check()
    page.get_by_label(f"Select {second.number} to pay").check()
    page.locator("[data-pay-selected]").click()
    page.wait_for_url("**/payments/new?*")
    expect(page.locator("[data-total]")).to_have_text("€191.34")
    expect(page.get_by_label(re.compile(r"Visa •••• 4242"))).to_be_checked()
    page.locator("[data-pay]").click()

    page.wait_for_url(RECEIPT_URL)
    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    expect(page.locator("main")).to_contain_text("We received €191.34")
    expect(page.locator("main table.invoices tbody tr")).to_have_count(2)

    see_what_the_server_committed(live_db)
    payment = live_db.get(Payment, int(RECEIPT_URL.search(page.url).group(1)))
    assert (payment.status, payment.amount, payment.company_id) == (PaymentStatus.SUCCEEDED, 19_134, company.id)
    assert [invoice_status(invoice, clock.today()) for invoice in (first, second)] == [InvoiceStatus.PAID] * 2
    assert (first.amount_due, second.amount_due, untouched.amount_due) == (0, 0, 50_000)

    [charge] = stripe_server.succeeded_charges()
    assert (charge["amount"], charge["currency"], charge["customer"]) == (19_134, "eur", company.provider_customer_id)
    assert charge["payment_intent"] == payment.provider_reference


def test_a_card_that_asks_for_3d_secure_is_confirmed_on_the_receipt_page(page, sign_in, enter_card, payer, live_db,
                                                                         stripe_server):
    user, company, (invoice, *_) = payer
    sign_in(page, user)
    save_card(page, enter_card, NEEDS_AUTHENTICATION, authenticate=True)
    expect(page.locator("ul.saved-cards li strong")).to_have_text("Visa •••• 3184")

    page.goto("/invoices")
    page.get_by_label(f"Select {invoice.number} to pay").check()
    page.locator("[data-pay-selected]").click()
    page.wait_for_url("**/payments/new?*")
    page.locator("[data-pay]").click()

    page.wait_for_url(RECEIPT_URL)
    expect(page.locator("h1")).to_have_text("Confirm the payment with your bank")
    see_what_the_server_committed(live_db)
    payment = live_db.get(Payment, int(RECEIPT_URL.search(page.url).group(1)))
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert stripe_server.succeeded_charges() == []

    page.get_by_role("button", name="Confirm with my bank").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Complete authentication").click()

    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    expect(page.locator("main")).to_contain_text("We received €123.45")
    see_what_the_server_committed(live_db)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert invoice.amount_due == 0
    [charge] = stripe_server.succeeded_charges()
    assert (charge["amount"], charge["payment_intent"]) == (12_345, payment.provider_reference)
