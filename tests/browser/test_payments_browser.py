"""Saving a card and paying invoices in a real browser, with localstripe's Stripe.js.

Everything goes through the pages a payer uses: sign in, add a card in the Card Element,
tick invoices in the list, pay, land on the receipt; and for a card that asks for 3-D
Secure, confirm in the bank's window. What counts is then read where it lives: the
invoices in the database, the charge at localstripe.
"""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import clock
from portal.billing.status import InvoiceStatus, invoice_status
from portal.models import Payment, PaymentStatus, SavedCard
from tests.browser.conftest import see_what_the_server_committed

pytestmark = pytest.mark.browser

VISA = "4242424242424242"
SECOND_CARD = "5555555555554444"  # localstripe calls every card a Visa: the last four tell them apart
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


def company_card(session, company, last4: str) -> SavedCard:
    see_what_the_server_committed(session)
    return session.scalar(select(SavedCard).where(SavedCard.company_id == company.id, SavedCard.last4 == last4))


def test_a_card_added_from_the_pay_page_is_the_card_named_and_the_card_charged(page, sign_in, enter_card, payer,
                                                                               live_db, stripe_server):
    user, company, (first, second, _) = payer
    sign_in(page, user)
    save_card(page, enter_card, VISA)
    page.goto(f"/payments/new?invoice={first.id}&invoice={second.id}")
    pay_button = page.locator("[data-pay]")
    expect(pay_button).to_have_text("Pay €191.34 with Visa •••• 4242")

    page.get_by_role("link", name="Use another card").click()
    page.wait_for_url(re.compile(r"/payments/cards/new\?next="))
    form = page.locator(CARD_FORM)
    enter_card(form, SECOND_CARD)
    form.locator("button[type=submit]").click()

    page.wait_for_url(re.compile(r"/payments/new\?invoice=\d+&invoice=\d+&card=\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("Card Visa •••• 4444 saved.")
    expect(page.get_by_label(re.compile(r"Visa •••• 4444"))).to_be_checked()
    expect(pay_button).to_have_text("Pay €191.34 with Visa •••• 4444")
    # Ticking a card renames the button at once.
    page.get_by_label(re.compile(r"Visa •••• 4242")).check()
    expect(pay_button).to_have_text("Pay €191.34 with Visa •••• 4242")
    page.get_by_label(re.compile(r"Visa •••• 4444")).check()
    expect(pay_button).to_have_text("Pay €191.34 with Visa •••• 4444")
    pay_button.click()

    page.wait_for_url(RECEIPT_URL)
    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    expect(page.locator("main")).to_contain_text("Visa •••• 4444")
    old_card, new_card = company_card(live_db, company, "4242"), company_card(live_db, company, "4444")
    assert old_card.is_default and not new_card.is_default
    [charge] = stripe_server.succeeded_charges(customer=company.provider_customer_id)
    assert (charge["amount"], charge["payment_method"]) == (19_134, new_card.provider_id)
    assert charge["payment_method"] != old_card.provider_id


def test_without_javascript_a_card_ticked_is_named_before_it_is_charged(page, new_context, sign_in, enter_card, payer,
                                                                        live_db, stripe_server):
    user, company, (invoice, *_) = payer
    sign_in(page, user)
    save_card(page, enter_card, VISA)
    save_card(page, enter_card, SECOND_CARD)
    no_script = new_context(java_script_enabled=False).new_page()
    sign_in(no_script, user)
    no_script.goto(f"/payments/new?invoice={invoice.id}")
    pay_button = no_script.locator("[data-pay]")
    expect(pay_button).to_have_text("Pay with Visa •••• 4242")

    no_script.get_by_label(re.compile(r"Visa •••• 4444")).check()
    # Without JavaScript the button cannot follow the tick: it still names the default card.
    expect(pay_button).to_have_text("Pay with Visa •••• 4242")
    pay_button.click()

    expect(no_script.locator("fieldset.cards")).to_contain_text("nothing was charged")
    assert stripe_server.payment_intents(customer=company.provider_customer_id) == []
    expect(pay_button).to_have_text("Pay with Visa •••• 4444")
    pay_button.click()
    no_script.wait_for_url(RECEIPT_URL)
    [charge] = stripe_server.succeeded_charges(customer=company.provider_customer_id)
    assert charge["payment_method"] == company_card(live_db, company, "4444").provider_id
