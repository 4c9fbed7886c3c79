"""Paying with the keyboard alone: no click, no focus set by the test, only keys a person presses.

A clerk signs in, ticks an invoice in the list, chooses a saved card and pays; a guest pays
a PAY NOW link, typing the card into localstripe's Stripe.js. Every element the keyboard
reaches on the way shows that it has the focus (an outline or a shadow), and what counts is
read where it lives: the invoice in the database, the charge at localstripe.
"""

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal import clock
from portal.billing.status import InvoiceStatus, invoice_status
from portal.blueprints.app_services import services
from portal.models import Payment, SavedCard
from tests.browser.conftest import see_what_the_server_committed
from tests.browser.test_payments_browser import RECEIPT_URL, SECOND_CARD, VISA, save_card

pytestmark = pytest.mark.browser

# What the focused element looks like: a person must see where the keyboard is.
FOCUS_LOOK = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  return {
    tag: element.tagName.toLowerCase(), name: element.getAttribute("name") || "", type: element.type || "",
    // A date field's calendar button has the focus: the field itself then does not match :focus.
    inner_button: !element.matches(":focus"),
    text: (element.innerText || element.value || element.getAttribute("placeholder") || "").trim().slice(0, 60),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== "none",
  };
}"""


def press(page: Page, key: str) -> dict:
    """Press `key` and return what then has the focus; it must show that it has it."""
    page.keyboard.press(key)
    focused = page.evaluate(FOCUS_LOOK)
    # Chromium draws the focus of a date field's calendar button itself (a dark ring), out of CSS's reach.
    if focused["tag"] != "body" and not (focused["type"] == "date" and focused["inner_button"]):
        assert focused["outline"] or focused["shadow"], f"no visible focus on {focused} after {key}"
    return focused


def tab_to(page: Page, selector: str, *, key: str = "Tab", limit: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the element matching `selector` has the focus."""
    passed = []
    for _ in range(limit):
        passed.append(press(page, key))
        if page.evaluate("selector => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{key} never reached {selector}; it went through {passed}")


def focused_matches(page: Page, selector: str) -> bool:
    return page.evaluate("selector => document.activeElement.matches(selector)", selector)


@pytest.fixture
def payer(new_context, sign_in, enter_card, live_make, live_db, stripe_server):
    """A payer of a company with two open invoices and two saved cards (the first the default)."""
    company = live_make.company(locale="en")
    invoices = [live_make.invoice(company, total=total) for total in (12_345, 6_789)]
    user = live_make.user(company)
    live_db.commit()
    # Saved beforehand, with the mouse, in another browser: the keyboard part starts at the sign-in page.
    earlier = new_context().new_page()
    sign_in(earlier, user)
    save_card(earlier, enter_card, VISA)
    save_card(earlier, enter_card, SECOND_CARD)
    return user, company, invoices


def test_a_clerk_signs_in_and_pays_an_invoice_with_the_keyboard_alone(new_context, payer, live_db, stripe_server):
    user, company, (invoice, untouched) = payer
    page = new_context().new_page()
    page.goto("/login?lang=en")

    # The address field has the focus as the page opens (autofocus); the rest is keys.
    assert focused_matches(page, "input[name=email]")
    page.keyboard.type(user.email)
    tab_to(page, "input[name=password]")
    page.keyboard.type("correct horse battery")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Invoices")

    # The first key reaches the skip link, which jumps over the navigation and the filters' header.
    assert press(page, "Tab")["text"] == "Skip to the content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.querySelector('main').contains(document.activeElement) || "
                         "document.activeElement === document.querySelector('main')")
    tab_to(page, f"input[name=invoice][value='{invoice.id}']")
    page.keyboard.press("Space")
    expect(page.get_by_label(f"Select {invoice.number} to pay")).to_be_checked()
    tab_to(page, "[data-pay-selected]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url("**/payments/new?*")

    # The default card is ticked; an arrow key ticks the other one, and the button names it.
    pay_button = page.locator("[data-pay]")
    expect(pay_button).to_have_text("Pay with Visa •••• 4242")
    tab_to(page, "input[name=card]:checked")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label(re.compile(r"Visa •••• 4444"))).to_be_checked()
    expect(pay_button).to_have_text("Pay with Visa •••• 4444")
    # One Tab too many lands past the button; Shift+Tab comes back to it.
    tab_to(page, "[data-pay]")
    press(page, "Tab")
    assert not focused_matches(page, "[data-pay]")
    tab_to(page, "[data-pay]", key="Shift+Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    page.wait_for_url(RECEIPT_URL)
    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    see_what_the_server_committed(live_db)
    payment = live_db.get(Payment, int(RECEIPT_URL.search(page.url).group(1)))
    assert (payment.amount, payment.company_id) == (12_345, company.id)
    assert invoice_status(invoice, clock.today()) == InvoiceStatus.PAID
    assert untouched.amount_due == 6_789
    second_card = live_db.scalar(select(SavedCard).where(SavedCard.company_id == company.id,
                                                         SavedCard.last4 == "4444"))
    [charge] = stripe_server.succeeded_charges(customer=company.provider_customer_id)
    assert (charge["amount"], charge["payment_method"]) == (12_345, second_card.provider_id)


def test_a_guest_pays_a_pay_now_link_with_the_keyboard_alone(new_context, live_server, live_make, live_db,
                                                            stripe_server):
    company = live_make.company(locale="en")
    invoice = live_make.invoice(company, total=48_000)
    live_db.commit()
    with live_server.app.app_context():
        link = services().pay_links.link_for(invoice).url
    page = new_context().new_page()
    page.goto(f"{link}?lang=en")
    expect(page.locator("h1")).to_have_text(f"Pay invoice {invoice.number}")

    tab_to(page, "input[name=email]")
    page.keyboard.type("payer@keyboard.test")
    # localstripe's card element, like Stripe's, moves on by itself as each part is complete:
    # number, month, year (two digits), CVC, postcode.
    tab_to(page, "[data-card-element] input[placeholder=number]", limit=1)
    for placeholder, value in (("number", VISA), ("exp_month", "12"), ("exp_year", "30"), ("cvc", "123"),
                               ("postal_code", "75001")):
        assert focused_matches(page, f"[data-card-element] input[placeholder={placeholder}]")
        page.keyboard.type(value)
    tab_to(page, "[data-pay]")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    expect(page.locator("main")).to_contain_text("We received €480.00")
    see_what_the_server_committed(live_db)
    assert invoice.amount_due == 0
    [charge] = stripe_server.succeeded_charges()
    assert charge["amount"] == 48_000


def test_turning_a_page_of_the_list_with_the_keyboard_keeps_the_focus_and_says_what_is_shown(
        new_context, sign_in, live_make, live_db):
    company = live_make.company(locale="en")
    for _ in range(12):
        live_make.invoice(company)
    user = live_make.user(company)
    live_db.commit()
    page = new_context().new_page()
    sign_in(page, user)
    page.goto("/invoices?per_page=10&lang=en")

    tab_to(page, "a[rel=next]", limit=100)
    with page.expect_response(lambda response: "page=2" in response.url):
        page.keyboard.press("Enter")

    # htmx swapped the link out with the results: the focus is on the new results, not back at the top.
    expect(page.locator("#results a[rel=prev]")).to_be_visible()
    assert focused_matches(page, "#results")
    expect(page.get_by_role("status")).to_have_text("12 invoices. Page 2 of 2")
    tab_to(page, "#results a[rel=prev]", limit=30)
