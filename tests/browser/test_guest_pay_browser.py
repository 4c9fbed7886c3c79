"""Paying from the PAY NOW link of an invoice e-mail, in a real browser, with no account.

The invoice is issued through the supplier API; its e-mail arrives at a real SMTP server;
the link in it is followed in Chromium, the card typed into localstripe's Stripe.js. Then
what counts is read where it lives: the invoice in the database, the charge at localstripe,
the receipt in the mailbox.
"""

import re
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.accounts.api_keys import create_api_key
from portal.blueprints.app_services import services
from portal.mail import outbox
from portal.models import Invoice, Payment, PaymentAllocation, PaymentChannel, PaymentStatus
from portal.services import services_of
from tests.browser.conftest import see_what_the_server_committed

pytestmark = pytest.mark.browser

VISA = "4242424242424242"
CARD_FORM = "form[data-card-setup]"
GUEST_RECEIPT_URL = re.compile(r"/pay/[^/]+/payments/(\d+)$")

# Holds the POST that payments.js makes once Stripe.js has confirmed the card, and leaves
# a function to send it: two browsers can then send theirs at the same instant, however
# long each one's round trip to localstripe took.
HOLD_THE_PAYMENT = """() => {
  const form = document.querySelector("form[data-card-setup]");
  form.submit = () => { window.acquitSendPayment = () => HTMLFormElement.prototype.submit.call(form); };
  form.querySelector("[data-pay]").click();
}"""
SEND_THE_PAYMENT_AT = "at => setTimeout(window.acquitSendPayment, Math.max(0, at - Date.now()))"


def payments_of(session, invoice_id: int) -> list[Payment]:
    return list(session.scalars(
        select(Payment).join(PaymentAllocation).where(PaymentAllocation.invoice_id == invoice_id).order_by(Payment.id)
    ))


def test_an_invoice_issued_through_the_api_is_paid_from_the_link_in_its_email(
        new_context, live_server, live_db, mailbox, stripe_server, enter_card):
    run = uuid.uuid4().hex[:8]
    company_ref, number = f"ERP-{run}", f"INV-E2E-{run}"
    accounts_payable, payer = f"ap-{run}@customer.test", f"payer-{run}@customer.test"
    _, key = create_api_key(live_db, f"erp-{run}")
    live_db.commit()
    erp = new_context(extra_http_headers={"Authorization": f"Bearer {key}"}).request

    company = erp.put(f"/api/v1/companies/{company_ref}", data={
        "name": f"Customer {run} SAS", "billing_emails": [accounts_payable], "locale": "en", "currency": "EUR"})
    assert company.status == 201, company.text()
    issued = erp.put(f"/api/v1/invoices/{number}", data={
        "company_ref": company_ref, "issue_date": "2026-11-01", "due_date": "2026-12-01", "currency": "EUR",
        "lines": [{"description": "Widgets", "quantity": 2, "unit_amount": 5_000, "tax_rate": "20.00"}]})
    assert issued.status == 201, issued.text()
    assert issued.json()["amount_due"] == 12_000

    # An invoice e-mail carries its PDF: the outbox worker draws and sends it, never the request.
    outbox.deliver(live_db, services_of(live_server.app).smtp)
    live_db.commit()
    [invoice_mail] = mailbox(accounts_payable)
    assert number in invoice_mail.message["Subject"]
    [pdf] = [part for part in invoice_mail.message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == f"{number}.pdf" and pdf.get_content().startswith(b"%PDF-")
    pay_now = re.search(r"http\S+/pay/\S+", invoice_mail.text_body()).group(0)
    assert pay_now.startswith(f"{live_server.url}/pay/")

    page = new_context().new_page()
    page.goto(pay_now)
    expect(page.locator("h1")).to_have_text(f"Pay invoice {number}")
    expect(page.locator("[data-amount-due]")).to_have_text("€120.00")
    form = page.locator(CARD_FORM)
    form.locator("input[name=email]").fill(payer)
    enter_card(form, VISA)
    form.locator("[data-pay]").click()

    page.wait_for_url(GUEST_RECEIPT_URL)
    expect(page.locator("h1")).to_have_text("Payment received — thank you")
    expect(page.locator("main")).to_contain_text("We received €120.00")
    expect(page.locator("main")).to_contain_text(f"A receipt is on its way to {payer}.")

    see_what_the_server_committed(live_db)
    invoice = live_db.scalar(select(Invoice).where(Invoice.number == number))
    assert (invoice.amount_paid, invoice.amount_due) == (12_000, 0)
    [payment] = payments_of(live_db, invoice.id)
    assert payment.id == int(GUEST_RECEIPT_URL.search(page.url).group(1))
    assert (payment.status, payment.channel, payment.amount, payment.receipt_email) == (
        PaymentStatus.SUCCEEDED, PaymentChannel.GUEST, 12_000, payer)
    [charge] = stripe_server.succeeded_charges()
    assert (charge["amount"], charge["currency"], charge["payment_intent"]) == (12_000, "eur",
                                                                                payment.provider_reference)

    [receipt] = mailbox(payer)
    assert "Payment received: €120.00" in receipt.message["Subject"]
    assert f"- {number}: €120.00" in receipt.text_body()

    page.goto(pay_now)
    expect(page.locator("h1")).to_have_text("This invoice is paid")
    expect(page.locator(CARD_FORM)).to_have_count(0)
    page.get_by_role("link", name="See the receipt").click()
    page.wait_for_url(GUEST_RECEIPT_URL)
    expect(page.locator("h1")).to_have_text("Payment received — thank you")


def test_two_browsers_paying_the_same_link_at_once_make_one_charge(
        new_context, live_server, live_make, live_db, stripe_server, enter_card):
    company = live_make.company(locale="en")
    invoice = live_make.invoice(company, total=34_567)
    live_db.commit()
    with live_server.app.app_context():
        link = services().pay_links.link_for(invoice).url

    pages = [new_context().new_page() for _ in range(2)]
    for n, page in enumerate(pages):
        page.goto(link)
        form = page.locator(CARD_FORM)
        form.locator("input[name=email]").fill(f"payer{n}@{company.external_ref.lower()}.test")
        enter_card(form, VISA)
    for page in pages:
        page.evaluate(HOLD_THE_PAYMENT)
    for page in pages:
        page.wait_for_function("() => typeof window.acquitSendPayment === 'function'")
    send_at = int(time.time() * 1000) + 250
    with pages[0].expect_navigation() as first, pages[1].expect_navigation() as second:
        for page in pages:
            page.evaluate(SEND_THE_PAYMENT_AT, send_at)
    answers = [first.value, second.value]

    receipts = [page for page in pages if GUEST_RECEIPT_URL.search(page.url)]
    assert len(receipts) == 1, [(answer.status, answer.url) for answer in answers]
    [paid] = receipts
    [other] = [page for page in pages if page is not paid]
    expect(paid.locator("h1")).to_have_text("Payment received — thank you")
    # The other browser is told, in words, why it was not charged: never an error page.
    expect(other.locator("main")).to_contain_text(
        re.compile(r"This invoice is paid|already paid|card payment of this invoice is already under way"))
    assert all(answer.status < 500 for answer in answers)

    see_what_the_server_committed(live_db)
    assert (invoice.amount_paid, invoice.amount_due) == (34_567, 0)
    succeeded = [payment for payment in payments_of(live_db, invoice.id) if payment.status == PaymentStatus.SUCCEEDED]
    assert [payment.amount for payment in succeeded] == [34_567]
    [charge] = stripe_server.succeeded_charges()
    assert (charge["amount"], charge["payment_intent"]) == (34_567, succeeded[0].provider_reference)


def test_many_people_opening_the_same_link_at_once_all_see_the_invoice(live_server, live_make, live_db):
    # Each guest page counts its view (a write): on SQLite, requests that read before they
    # wrote failed with "database is locked" once another committed first. Real concurrency
    # needs the live server; no browser is needed to make twelve requests at the same instant.
    company = live_make.company(locale="en")
    invoice = live_make.invoice(company, total=2_500)
    live_db.commit()
    with live_server.app.app_context():
        link = services().pay_links.link_for(invoice).url
    start_together = threading.Barrier(12)
    answers: list[tuple[int, str]] = []

    def open_link() -> None:
        start_together.wait()
        try:
            with urllib.request.urlopen(link + "?lang=en", timeout=30) as response:
                answers.append((response.status, response.read().decode()))
        except urllib.error.HTTPError as error:
            answers.append((error.code, ""))

    people = [threading.Thread(target=open_link) for _ in range(12)]
    for person in people:
        person.start()
    for person in people:
        person.join()

    assert sorted(status for status, _ in answers) == [200] * 12
    assert all(f"Pay invoice {invoice.number}" in page for _, page in answers)
