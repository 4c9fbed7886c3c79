"""Reminders and statements in a real browser, in French and English, on a desk and on a phone.

The reminder run e-mails a real SMTP server; its one link is followed in Chromium and pays
both invoices at once with a card typed into localstripe's Stripe.js. Staff change the
schedule and read the history; the clerk sees when they were reminded and their statement.
Each page is photographed at 1280 and 390 px wide, in both languages, into
test-artifacts/reminders/ (for a person to look at: the assertions are the test).
"""

import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal import clock
from portal.mail import outbox
from portal.models import Invoice, Payment, PaymentChannel, PaymentStatus
from portal.reminders.run import run_reminders
from portal.services import services_of
from tests.browser.conftest import ARTIFACTS, see_what_the_server_committed

pytestmark = pytest.mark.browser

VISA = "4242424242424242"
SHOTS = ARTIFACTS / "reminders"
WIDTHS = {"desk": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def reminded(live_server, live_make, live_db, mailbox):
    """A company with two overdue invoices and a clerk, reminded today through the real run and SMTP."""
    today = clock.today()
    company = live_make.company(name="Relance Démo SARL", locale="fr")
    first = live_make.invoice(company, total=120_00, issue_date=today - timedelta(days=40),
                              due_date=today - timedelta(days=10), po_number="PO-REL-1")
    second = live_make.invoice(company, total=80_50, issue_date=today - timedelta(days=33),
                               due_date=today - timedelta(days=3))
    clerk = live_make.user(company)
    live_db.commit()
    report = run_reminders(live_db, services_of(live_server.app).reminders, as_of=today)
    outbox.deliver(live_db, services_of(live_server.app).smtp)
    live_db.commit()
    assert report.emails >= 1
    [mail] = mailbox(company.billing_emails[0])
    return company, clerk, (first, second), mail


def photograph(page: Page, name: str, *, fits_a_phone: bool = True) -> None:
    """Each language at each width, as the page stands (its URL is reloaded, with ?lang=); with
    `fits_a_phone`, the page must not scroll sideways (tables scroll within themselves)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    parts = urlsplit(page.url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "lang"]
    for lang in ("fr", "en"):
        for label, size in WIDTHS.items():
            page.set_viewport_size(size)
            page.goto(urlunsplit(parts._replace(query=urlencode([*query, ("lang", lang)]))))
            assert not fits_a_phone or page.evaluate("document.documentElement.scrollWidth") <= size["width"] + 1, (
                f"{name} ({lang}, {label}) scrolls sideways")
            page.screenshot(path=SHOTS / f"{name}-{lang}-{label}.png", full_page=True)
    page.set_viewport_size(WIDTHS["desk"])


def test_staff_clerk_and_guest_walk_the_reminder_pages(new_context, sign_in, live_make, live_db, reminded,
                                                       enter_card):
    company, clerk, (first, second), mail = reminded
    body = mail.text_body()
    assert first.number in body and second.number in body and "200,50" in body

    staff = live_make.staff(locale="en")
    live_db.commit()
    staff_page = new_context().new_page()
    sign_in(staff_page, staff)
    staff_page.goto("/collections/reminders?lang=en")
    expect(staff_page.locator("table.reminder-emails")).to_contain_text(company.name)
    photograph(staff_page, "staff-reminders")
    staff_page.goto("/collections/reminders?lang=en")
    staff_page.locator("input[name=reminder_days]").fill("3, 10, 30, 45")
    staff_page.get_by_role("button", name="Save the default schedule").click()
    expect(staff_page.locator(".flash-success")).to_contain_text("Default reminder schedule saved.")
    staff_page.get_by_role("link", name=company.name).first.click()
    expect(staff_page.locator("table.reminder-emails")).to_contain_text(first.number)
    photograph(staff_page, "staff-company-reminders")
    staff_page.goto(f"/collections/invoices/{first.id}?lang=en")
    expect(staff_page.locator("#invoice-reminders")).to_contain_text("Reminders sent")
    # The staff invoice page around the reminders is another helper's (issue 14, staff area).
    photograph(staff_page, "staff-invoice", fits_a_phone=False)

    clerk_page = new_context().new_page()
    sign_in(clerk_page, clerk)
    clerk_page.goto("/invoices?lang=fr")
    expect(clerk_page.locator(f"[data-reminded-on='{clock.today().isoformat()}']")).to_have_count(2)
    # The customer's list layout is another helper's (issue 13); the reminder date is a line in its status cell.
    photograph(clerk_page, "clerk-invoices", fits_a_phone=False)
    clerk_page.goto(f"/statements?lang=fr&start={(clock.today() - timedelta(days=60)).isoformat()}"
                    f"&end={clock.today().isoformat()}")
    expect(clerk_page.locator("[data-closing]")).to_have_text(re.compile(r"200,50"))
    photograph(clerk_page, "clerk-statement")
    with clerk_page.expect_download() as download:
        clerk_page.locator("[data-statement-pdf]").click()
    assert download.value.suggested_filename.startswith(f"statement-{company.external_ref}-")

    link = re.search(r"(http://\S+/pay/invoices/\S+)", body).group(1)
    guest = new_context().new_page()
    guest.goto(link)
    expect(guest.locator("[data-total]")).to_have_text(re.compile(r"200[.,]50"))
    photograph(guest, "guest-several")
    guest.goto(link + "?lang=en")
    guest.locator("input[name=email]").fill("ap@relance.test")
    enter_card(guest.locator("form[data-card-setup]"), VISA)
    guest.locator("[data-pay]").click()
    expect(guest.locator("h1")).to_have_text("Payment received — thank you")
    photograph(guest, "guest-several-paid")

    see_what_the_server_committed(live_db)
    payment = live_db.scalar(select(Payment).where(Payment.company_id == company.id,
                                                   Payment.channel == PaymentChannel.GUEST))
    assert (payment.status, payment.amount) == (PaymentStatus.SUCCEEDED, 200_50)
    assert [live_db.get(Invoice, invoice.id).amount_due for invoice in (first, second)] == [0, 0]
