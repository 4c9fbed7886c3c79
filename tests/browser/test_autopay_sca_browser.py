"""Autopay meets a card that needs 3-D Secure, end to end: the run, the e-mail, the payer in a browser.

A company is enrolled on a card saved in the browser (3-D Secure completed at saving). The
operator's `acquit autopay run` charges it off-session; localstripe wants the cardholder,
so the run cancels that charge and e-mails a PAY NOW link, which it sends to a real SMTP
server. The link is read from the e-mail received there, opened in Chromium, and the
invoice paid with the card, authentication completed in the fake Stripe.js window. Then
what counts is read where it lives: the invoice in the database, exactly one succeeded
charge at localstripe.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal import clock
from portal.billing.status import InvoiceStatus, invoice_status
from portal.demo import DEMO_SUPPLIER
from portal.models import Invoice, Payment, PaymentAllocation, PaymentChannel, PaymentStatus, SavedCard
from tests.autopay.conftest import enrol_as_clerk
from tests.browser.conftest import LIVE_WEBHOOK_SECRET, see_what_the_server_committed
from tests.conftest import TEST_SECRET_KEY as APP_SECRET_KEY
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY

pytestmark = pytest.mark.browser

NEEDS_AUTHENTICATION = "4000002760003184"
CARD_FORM = "form[data-card-setup]"
REPO = Path(__file__).resolve().parents[2]
ACQUIT = Path(sys.executable).parent / "acquit"
GUEST_PAYMENT_URL = re.compile(r"/pay/[^/]+/payments/(\d+)$")


def acquit(live_server, live_localstripe, live_smtp_server, tmp_path, *args: str) -> str:
    """Run an `acquit` command as the operator's cron would, on the live server's database and services."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ACQUIT_", "STRIPE_", "FLASK_"))}
    env.update({
        **DEMO_SUPPLIER,
        "ACQUIT_DATABASE_URL": live_server.database_url,
        # The PAY NOW link is signed with the portal's key and points at the portal.
        "ACQUIT_SECRET_KEY": APP_SECRET_KEY,
        "ACQUIT_BASE_URL": live_server.url,
        "ACQUIT_ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "ACQUIT_SMTP_HOST": live_smtp_server.host,
        "ACQUIT_SMTP_PORT": str(live_smtp_server.port),
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": LIVE_WEBHOOK_SECRET,
        "ACQUIT_STRIPE_API_BASE": live_localstripe.api_base,
    })
    done = subprocess.run([str(ACQUIT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def received(smtp_server, address: str, subject: str, *, timeout: float = 10.0):
    """The one e-mail to `address` whose subject contains `subject`, once the SMTP server has it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [mail for mail in list(smtp_server.messages)
                 if address in mail.recipients and subject in mail.message["Subject"]]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, f"{len(found)} e-mail(s) to {address} about {subject!r}"
            return found[0]
        time.sleep(0.05)


def test_autopay_asks_for_3d_secure_by_email_and_the_payer_pays_from_the_link(
        new_context, sign_in, enter_card, live_server, live_make, live_db, live_localstripe, live_smtp_server,
        stripe_server, tmp_path):
    company = live_make.company(locale="en")
    payer = live_make.user(company, locale="en")
    invoice = live_make.invoice(company, total=45_678, due_date=clock.today())
    live_db.commit()

    # The clerk saves the card in the portal; the bank asks for 3-D Secure once, at saving.
    clerk_page = new_context().new_page()
    sign_in(clerk_page, payer)
    clerk_page.goto("/payments/cards/new")
    form = clerk_page.locator(CARD_FORM)
    enter_card(form, NEEDS_AUTHENTICATION)
    form.locator("button[type=submit]").click()
    clerk_page.get_by_role("button", name="Complete authentication").click()
    clerk_page.wait_for_url("**/payments/cards")
    expect(clerk_page.locator("ul.saved-cards li strong")).to_have_text("Visa •••• 3184")
    see_what_the_server_committed(live_db)
    card = live_db.scalar(select(SavedCard).where(SavedCard.company_id == company.id))
    enrol_as_clerk(live_db, payer, company, card, today=clock.today())

    ran = acquit(live_server, live_localstripe, live_smtp_server, tmp_path,
                 "autopay", "run", "--as-of", clock.today().isoformat())
    assert "0 charged, 0 declined, 1 sent to the customer" in ran, ran
    [autopay_intent] = stripe_server.payment_intents(customer=company.provider_customer_id)
    assert autopay_intent["status"] == "canceled"
    assert autopay_intent["metadata"]["payment_key"] == f"autopay-{invoice.id}-1"
    assert stripe_server.succeeded_charges() == []

    asked = received(live_smtp_server, payer.email, "Your bank asks you to confirm")
    assert invoice.number in asked.message["Subject"]
    assert "Nothing was charged." in asked.text_body()
    pay_now = re.search(r"http\S+/pay/\S+", asked.text_body()).group(0)
    assert pay_now.startswith(f"{live_server.url}/pay/")

    # The payer opens the link from the e-mail, signed in nowhere, and pays with the same card.
    page = new_context().new_page()
    page.goto(pay_now)
    expect(page.locator("h1")).to_have_text(f"Pay invoice {invoice.number}")
    expect(page.locator("[data-amount-due]")).to_have_text("€456.78")
    form = page.locator(CARD_FORM)
    form.locator("input[name=email]").fill(payer.email)
    enter_card(form, NEEDS_AUTHENTICATION)
    form.locator("[data-pay]").click()
    # The card entered asks for 3-D Secure once to be set up, then once for the charge.
    page.get_by_role("button", name="Complete authentication").click()
    page.wait_for_url(GUEST_PAYMENT_URL)
    expect(page.locator("h1")).to_have_text("Confirm the payment with your bank")
    assert stripe_server.succeeded_charges() == []
    page.get_by_role("button", name="Confirm with my bank").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Complete authentication").click()

    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    expect(page.locator("main")).to_contain_text("We received €456.78")
    see_what_the_server_committed(live_db)
    invoice = live_db.get(Invoice, invoice.id)
    assert (invoice.amount_paid, invoice.amount_due) == (45_678, 0)
    assert invoice_status(invoice, clock.today()) == InvoiceStatus.PAID
    payments = list(live_db.scalars(select(Payment).join(PaymentAllocation)
                                    .where(PaymentAllocation.invoice_id == invoice.id).order_by(Payment.id)))
    assert [(p.channel, p.status) for p in payments] == [(PaymentChannel.AUTOPAY, PaymentStatus.FAILED),
                                                         (PaymentChannel.GUEST, PaymentStatus.SUCCEEDED)]
    assert payments[1].id == int(GUEST_PAYMENT_URL.search(page.url).group(1))
    [charge] = stripe_server.succeeded_charges()
    assert (charge["amount"], charge["payment_intent"]) == (45_678, payments[1].provider_reference)

    receipt = received(live_smtp_server, payer.email, "Payment received")
    assert f"- {invoice.number}: €456.78" in receipt.text_body()
