"""The customer and guest pages on phones (390 and 360 px wide) and a desktop, in French and English.

On a phone no page may scroll sideways, and no amount runs into its box's border: the
navigation wraps, the invoice list drops its less useful columns, the pay and guest pages are
one column. Every page is photographed at each width in both languages into test-artifacts/
(layout-*.png) for a person to look at.

And a PAY NOW page of a partly disputed invoice says what is disputed and charges, at
localstripe, exactly the amount it offers.
"""

import re
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.blueprints.app_services import services
from portal.models import Payment, PaymentAllocation, PaymentStatus, Role
from tests.browser.conftest import ARTIFACTS, see_what_the_server_committed

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
VISA = "4242424242424242"


def amounts_touching_their_box(page: Page) -> list[str]:
    """The "what you owe" figures whose amount comes within 8 px of its card's right border."""
    return page.evaluate("""() => [...document.querySelectorAll('.owed .figure')].filter(figure => {
        const amount = figure.querySelector('strong').getBoundingClientRect();
        return amount.right > figure.getBoundingClientRect().right - 8;
    }).map(figure => figure.innerText)""")


def sideways_scroll(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scroll)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.fixture
def customer(live_server, live_make, live_db):
    """A customer with a long name, invoices of every kind (one partly disputed) for six-figure sums and a long
    e-mail address."""
    run = uuid.uuid4().hex[:6]
    company = live_make.company(ref=f"PHONE-{run}", name=f"Établissements Lefebvre-Rousseau et Associés {run}",
                                locale="fr")
    admin = live_make.user(company, role=Role.ADMIN, email=f"comptabilite.fournisseurs-{run}@lefebvre-rousseau.test")
    today = date.today()
    invoices = [live_make.invoice(company, number=f"FAC-2026-{run}-{n:03d}", total=(n + 1) * 12_345_67,
                                  po_number=f"BC-{run}-{n}", issue_date=today - timedelta(days=40 - n),
                                  due_date=today + timedelta(days=n - 10)) for n in range(12)]
    live_make.payment(invoices[1], 50_00)
    disputed = live_make.invoice(company, number=f"FAC-LIT-{run}", total=1000_00, due_date=today + timedelta(days=20))
    with live_server.app.app_context():
        live_make.dispute(services().disputes, disputed, admin, amount=400_00)
        token_url = services().pay_links.link_for(disputed).url
    live_db.commit()
    return company, admin, invoices, disputed, token_url


PAGES = {
    "list": lambda invoices, disputed, token_url: "/invoices",
    "detail": lambda invoices, disputed, token_url: f"/invoices/{disputed.id}",
    "pay": lambda invoices, disputed, token_url: f"/payments/new?invoice={invoices[0].id}&invoice={invoices[1].id}",
    "payments": lambda invoices, disputed, token_url: "/payments",
    "guest": lambda invoices, disputed, token_url: token_url,
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_customer_or_guest_page_scrolls_sideways_on_a_phone(new_context, sign_in, customer, language):
    _, admin, invoices, disputed, token_url = customer
    ARTIFACTS.mkdir(exist_ok=True)
    for viewport_name, viewport in (("phone", PHONE), ("small-phone", SMALL_PHONE), ("desktop", DESKTOP)):
        context = new_context(viewport=viewport, locale="fr-FR" if language == "fr" else "en-GB")
        page = context.new_page()
        sign_in(page, admin)
        page.goto(f"/invoices?lang={language}")
        for name, url_of in PAGES.items():
            page.goto(url_of(invoices, disputed, token_url))
            expect(page.locator("h1")).to_be_visible()
            assert page.evaluate("() => document.documentElement.lang").startswith(language)
            page.screenshot(path=ARTIFACTS / f"layout-{name}-{language}-{viewport_name}.png", full_page=True)
            if viewport_name != "desktop":
                width = viewport["width"]
                assert sideways_scroll(page) <= 0, f"{name} scrolls {sideways_scroll(page)} px sideways at {width} px"
                assert amounts_touching_their_box(page) == [], f"{name} at {width} px"


def test_the_invoice_list_on_a_phone_keeps_what_matters(new_context, sign_in, customer):
    _, admin, invoices, _, _ = customer
    page = new_context(viewport=PHONE).new_page()
    sign_in(page, admin)
    page.goto("/invoices?lang=en&sort=number&direction=asc")

    headers = [text.strip() for text in page.locator("table.invoices thead th:visible").all_inner_texts()]

    # "Pay" heads the tick boxes, for screen readers only.
    assert headers == ["Pay", "Number", "Due date", "Amount due", "Status"]
    assert sideways_scroll(page) <= 0


def test_a_partly_disputed_invoice_says_what_is_disputed_and_charges_what_it_shows(
        new_context, live_db, customer, stripe_server, enter_card):
    _, _, _, disputed, token_url = customer
    page = new_context(viewport=PHONE, locale="en-GB").new_page()
    page.goto(f"{token_url}?lang=en")

    expect(page.locator("[data-amount-due]")).to_have_text("€1,000.00")
    expect(page.locator("[data-amount-disputed]")).to_have_text("€400.00")
    expect(page.locator("[data-amount-payable]")).to_have_text("€600.00")
    expect(page.locator("[data-pay]")).to_have_text("Pay €600.00")
    assert sideways_scroll(page) <= 0
    page.screenshot(path=ARTIFACTS / "layout-guest-partly-disputed-en-phone.png", full_page=True)
    form = page.locator("form[data-card-setup]")
    form.locator("input[name=email]").fill("payer@lefebvre-rousseau.test")
    enter_card(form, VISA)
    form.locator("[data-pay]").click()

    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    see_what_the_server_committed(live_db)
    [payment] = live_db.scalars(select(Payment).join(PaymentAllocation).where(
        PaymentAllocation.invoice_id == disputed.id))
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, 600_00)
    [charge] = stripe_server.succeeded_charges(payment_intent=payment.provider_reference)
    assert (charge["amount"], charge["currency"]) == (600_00, "eur")
    assert re.search(r"€600\.00", page.locator("main").inner_text())


def test_the_guest_form_checks_the_email_before_the_card_is_sent(new_context, customer, stripe_server, enter_card):
    _, _, _, _, token_url = customer
    page = new_context(locale="fr-FR").new_page()
    sent_to_the_processor = []
    page.on("request", lambda request: sent_to_the_processor.append(request.url)
            if "setup_intents" in request.url else None)
    page.goto(f"{token_url}?lang=fr")
    form = page.locator("form[data-card-setup]")
    enter_card(form, VISA)

    form.locator("[data-pay]").click()

    expect(form.locator("[data-card-error]")).to_have_text("Saisissez une adresse e-mail, par exemple nom@entreprise.fr.")
    assert sent_to_the_processor == [] and stripe_server.charges() == []
    # The card typed is still there: only the address is missing.
    assert form.locator("[data-card-element] input[placeholder=number]").input_value() == VISA


def test_each_filter_change_sends_one_request(new_context, sign_in, customer):
    _, admin, _, _, _ = customer
    page = new_context().new_page()
    sign_in(page, admin)
    page.goto("/invoices?lang=en")
    sent = []
    page.on("request", lambda request: sent.append(request.url) if request.headers.get("hx-request") else None)

    page.locator("#filters input[name=q]").fill("FAC-2026")
    with page.expect_response(lambda response: "/invoices?" in response.url):
        page.locator("#filters button[type=submit]").click()
    page.wait_for_timeout(600)  # longer than any delayed trigger: a second request would be out by now
    typed_and_applied = list(sent)
    sent.clear()
    with page.expect_response(lambda response: "/invoices?" in response.url):
        page.locator("#filters select[name=status]").select_option("overdue")
    page.wait_for_timeout(600)

    assert len(typed_and_applied) == 1 and "q=FAC-2026" in typed_and_applied[0]
    assert len(sent) == 1 and "status=overdue" in sent[0]
