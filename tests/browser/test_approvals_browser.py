"""The approval rule walked in Chromium, in English and French, on a laptop and a phone.

An admin sets the threshold on the approvals page; a payer pays an invoice above it and is
told it waits; the admin, from the link in the e-mail at the SMTP server, approves it; only
then does localstripe see a charge, of the preparer's card. Each step's page is kept as a
screenshot in test-artifacts/walks/ for a person to look at, and no page may scroll sideways.
"""

import re
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from portal.models import ApprovalStatus, Company, Invoice, PaymentApproval, Role, User
from tests.browser.conftest import ARTIFACTS, TIMEOUT_MS, see_what_the_server_committed
from tests.browser.test_payments_browser import VISA, save_card

pytestmark = pytest.mark.browser

WALKS = ARTIFACTS / "walks"
WORDS = {
    "en": {"threshold": "1000", "save": "Save the rule", "saved": "The approval rule is saved.",
           "ask": "Ask for approval to pay", "waits": "Nothing is charged until a second person approves it.",
           "approve": "Approve and pay", "paid": "Approved: the payment is made.",
           "subject": "waits for your approval", "approved_subject": "was approved",
           "not_charged": "Approved, but nothing was charged: ", "already_paid": "Invoice %s is already paid."},
    "fr": {"threshold": "1000", "save": "Enregistrer la règle", "saved": "La règle d’approbation est enregistrée.",
           "ask": "Demander l’approbation pour payer",
           "waits": "Rien n’est débité tant qu’une deuxième personne ne l’a pas approuvé.",
           "approve": "Approuver et payer", "paid": "Approuvé : le paiement est effectué.",
           "subject": "attend votre approbation", "approved_subject": "a été approuvé",
           "not_charged": "Approuvé, mais rien n’a été débité : ", "already_paid": "La facture %s est déjà payée."},
}
SCREENS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def look(page, name: str) -> None:
    """Keep the page as a screenshot, and check nothing on it runs off the side of the screen."""
    WALKS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=WALKS / f"{name}.png", full_page=True)
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"


@dataclass
class Prepared:
    """A payment a payer asked approval for, and the admin's browser on the approval's page link."""

    company: Company
    invoice: Invoice
    admin: User
    payer: User
    as_admin: Page
    approval_link: str


def prepare_a_payment_above_the_threshold(new_context, sign_in, enter_card, live_make, live_db, stripe_server, mailbox,
                                          language: str, screen: str, walk: str) -> Prepared:
    """The admin sets the rule, the payer saves a card and asks approval to pay an invoice above it; nothing charged."""
    words = WORDS[language]
    company = live_make.company(locale=language)
    invoice = live_make.invoice(company, total=250_000)
    admin = live_make.user(company, role=Role.ADMIN, locale=language)
    payer = live_make.user(company, role=Role.PAYER, locale=language)
    live_db.commit()

    def browser_of(user):
        page = new_context(viewport=SCREENS[screen], locale="fr-FR" if language == "fr" else "en-GB").new_page()
        page.goto(f"/login?lang={language}")
        sign_in(page, user)
        return page

    as_admin = browser_of(admin)
    as_admin.goto("/approvals")
    as_admin.locator("input[name=amount]").fill(words["threshold"])
    as_admin.get_by_role("button", name=words["save"]).click()
    expect(as_admin.locator(".flash-success")).to_contain_text(words["saved"])
    look(as_admin, f"{walk}-1-rule")

    as_payer = browser_of(payer)
    as_payer.goto("/payments/cards?lang=en")  # the card page's helper reads English
    save_card(as_payer, enter_card, VISA)
    as_payer.goto(f"/payments/new?invoice={invoice.id}&lang={language}")
    pay_button = as_payer.locator("button[data-pay]")
    expect(pay_button).to_contain_text(words["ask"])
    look(as_payer, f"{walk}-2-pay-page")
    pay_button.click()
    as_payer.wait_for_url(re.compile(r"/approvals/\d+$"))
    expect(as_payer.locator("main")).to_contain_text(words["waits"])
    expect(as_payer.get_by_role("button", name=words["approve"])).to_have_count(0)
    look(as_payer, f"{walk}-3-waiting")
    assert stripe_server.payment_intents() == []  # not even tried

    [asked] = mailbox(admin.email)
    assert words["subject"] in asked.message["Subject"]
    link = re.search(r"https?://\S+(/approvals/\d+)", asked.text_body()).group(1)
    return Prepared(company, invoice, admin, payer, as_admin, link)


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("language", WORDS)
def test_a_payment_above_the_threshold_waits_for_a_second_person_then_is_charged(
        new_context, sign_in, enter_card, live_make, live_db, stripe_server, mailbox, language, screen):
    words = WORDS[language]
    walk = f"approval-{language}-{screen}"
    prepared = prepare_a_payment_above_the_threshold(new_context, sign_in, enter_card, live_make, live_db,
                                                     stripe_server, mailbox, language, screen, walk)
    as_admin = prepared.as_admin
    as_admin.goto(prepared.approval_link)
    look(as_admin, f"{walk}-4-to-approve")
    as_admin.get_by_role("button", name=words["approve"]).click()
    expect(as_admin.locator(".flash-success")).to_contain_text(words["paid"])
    look(as_admin, f"{walk}-5-approved")

    see_what_the_server_committed(live_db)
    approval = live_db.query(PaymentApproval).filter_by(company_id=prepared.company.id).one()
    assert (approval.status, approval.decided_by_user_id) == (ApprovalStatus.APPROVED, prepared.admin.id)
    assert live_db.get(Invoice, prepared.invoice.id).amount_due == 0
    [charge] = stripe_server.succeeded_charges()
    assert charge["amount"] == 250_000
    assert any(words["approved_subject"] in mail.message["Subject"] for mail in mailbox(prepared.payer.email))


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("language", WORDS)
def test_an_invoice_paid_while_its_payment_waited_is_not_charged_and_the_approver_reads_why_in_their_language(
        new_context, sign_in, enter_card, live_make, live_db, stripe_server, mailbox, language, screen):
    words = WORDS[language]
    walk = f"approval-not-charged-{language}-{screen}"
    prepared = prepare_a_payment_above_the_threshold(new_context, sign_in, enter_card, live_make, live_db,
                                                     stripe_server, mailbox, language, screen, walk)
    live_make.payment(live_db.get(Invoice, prepared.invoice.id), 250_000)  # by bank transfer, meanwhile
    live_db.commit()

    as_admin = prepared.as_admin
    as_admin.goto(prepared.approval_link)
    as_admin.get_by_role("button", name=words["approve"]).click()
    why = words["already_paid"] % prepared.invoice.number
    expect(as_admin.locator(".flash-error")).to_contain_text(words["not_charged"] + why)
    expect(as_admin.locator("main")).to_contain_text(why)
    look(as_admin, f"{walk}-4-not-charged")

    assert stripe_server.payment_intents() == []
    # The preparer's e-mail says why too, in their language (sent as the request ends: waited for).
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not any(why in mail.text_body() for mail in mailbox(prepared.payer.email)):
        assert time.monotonic() < deadline, "the preparer was not told why nothing was charged"
        time.sleep(0.05)
