"""axe-core, in Chromium, over every customer and guest page, in French and in English.

Each page is opened as a person reaches it (signed in, after a card was saved, a payment
made, autopay turned on, an approval asked for; the PAY NOW pages signed out) and axe-core
(tests/browser/vendor/axe.min.js) audits it; the invoice list is audited again after an htmx
filter swapped its results. Every violation of impact "serious" or "critical" fails the test,
listed with its rule, impact, element and page.

The pages come from the route map: every GET route a clerk, a signed-in user, a PAY NOW link
or anyone may open (see tests/blueprints/test_tenancy.py) must have been audited, unless
NOT_PAGES says why it is no page. Routes without GET are forms' targets: what they answer is a
redirect, or a page of a GET route shown again with its errors (some of those are audited too).
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from portal import clock
from portal.approvals.service import set_rule
from portal.blueprints.app_services import services
from portal.guest.service import GuestLimits
from portal.models import Payment, PaymentAllocation, PaymentChannel, PaymentStatus, Role, SavedCard
from portal.models.types import utcnow
from tests.blueprints.test_tenancy import ROUTE_ACCESS, Access
from tests.browser.conftest import see_what_the_server_committed

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
VISA = "4242424242424242"
# axe's default rules (WCAG 2.0-2.2 A and AA, and its best practices), and WCAG 2.2's minimum
# target size (24 px), which axe leaves off by default.
RUN_AXE = "() => axe.run(document, {resultTypes: ['violations'], rules: {'target-size': {enabled: true}}})"
PAGE_ACCESS = (Access.CUSTOMER, Access.SIGNED_IN, Access.PAY_LINK, Access.PUBLIC)
# GET routes that answer no page to audit, and why.
NOT_PAGES = {
    "invoices.pdf": "a PDF download",
    "invoices.facturx": "a Factur-X (PDF) download",
    "invoices.credit_note": "a PDF or Factur-X download",
    "invoices.download_zip": "a ZIP download",
    "invoices.export": "a CSV download",
    "invoices.export_payments": "a CSV download",
    "statements.pdf": "a PDF download",
    "disputes.attachment": "a file a customer or staff attached",
    "guest.pdf": "a PDF download",
    "api.openapi": "JSON for the supplier's systems",
    "health.healthz": "JSON for the load balancer",
    "health.readyz": "JSON for the load balancer",
    "auth.home": "a redirect to the sign-in page or the invoice list",
}


@dataclass
class Audit:
    """Runs axe in pages and keeps what failed and which routes were audited."""

    app: Flask
    failures: list[str] = field(default_factory=list)
    audited_endpoints: set[str] = field(default_factory=set)

    def of(self, page: Page, name: str) -> None:
        expect(page.locator("h1")).to_be_visible()
        results = page.evaluate(RUN_AXE)
        for violation in results["violations"]:
            for node in violation["nodes"]:
                impact = node.get("impact") or violation["impact"]
                if impact in FAILING_IMPACTS:
                    self.failures.append(f"{name} ({urlsplit(page.url).path}): {violation['id']} [{impact}] at "
                                         f"{' '.join(map(str, node['target']))}: {violation['help']}")
        self.audited_endpoints.add(endpoint_of(self.app, urlsplit(page.url).path))

    def visit(self, page: Page, url: str, name: str) -> None:
        page.goto(url)
        self.of(page, name)


def page_endpoints(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if "GET" in rule.methods and ROUTE_ACCESS.get(rule.endpoint) in PAGE_ACCESS} - set(NOT_PAGES)


def endpoint_of(app, path: str) -> str:
    try:
        endpoint, _ = app.url_map.bind("portal.test").match(path, method="GET")
    except HTTPException:  # not a page of the app (the 404 page), or a redirect
        return ""
    return endpoint


@pytest.fixture
def books(live_server, live_make, live_db):
    """A customer with an invoice in every state, a dispute, two admins; PAY NOW links (one expired, one resting)."""
    run = uuid.uuid4().hex[:6]
    company = live_make.company(ref=f"A11Y-{run}", name=f"Dupont Rivière {run}")
    admin = live_make.user(company, role=Role.ADMIN, email=f"compta-{run}@dupont.test")
    live_make.user(company, role=Role.ADMIN)  # the second person an approval needs
    today = clock.today()

    def invoice(name, total, *, days_late=-20):
        due = today - timedelta(days=days_late)
        return live_make.invoice(company, number=f"F-{run}-{name}", total=total, po_number=f"BC-{run}",
                                 issue_date=due - timedelta(days=30), due_date=due)

    invoices = {name: invoice(name, total, days_late=days_late) for name, total, days_late in (
        ("open", 1956_35, -20), ("overdue", 480_00, 12), ("partly-paid", 900_00, -5), ("paid", 120_00, -5),
        ("credited", 300_00, -10), ("disputed", 1000_00, -15), ("guest", 250_00, 3), ("several-1", 60_00, 2),
        ("several-2", 70_00, -2), ("resting", 55_00, 1), ("to-approve", 640_00, -25))}
    live_make.payment(invoices["partly-paid"], 400_00)
    live_make.payment(invoices["paid"], 120_00)
    live_make.credit_note(invoices["credited"], 100_00)
    with live_server.app.app_context():
        dispute = live_make.dispute(services().disputes, invoices["disputed"], admin, amount=400_00)
    # As many cards declined on the "resting" invoice's link this hour as make it rest.
    for n in range(GuestLimits().declines_before_rest):
        failed = Payment(company_id=company.id, amount=55_00, currency="EUR", status=PaymentStatus.FAILED,
                         idempotency_key=f"a11y-declined-{run}-{n}", channel=PaymentChannel.GUEST,
                         failure_code="card_declined")
        live_db.add(failed)
        live_db.flush()
        live_db.add(PaymentAllocation(payment_id=failed.id, invoice_id=invoices["resting"].id, amount=55_00))
    live_db.commit()
    with live_server.app.app_context():
        links = services().pay_links
        guest_urls = {name: links.link_for(invoices[name]).url
                      for name in ("guest", "disputed", "paid", "resting")}
        guest_urls["expired"] = links.link_for(invoices["overdue"], now=utcnow() - timedelta(days=400)).url
        guest_urls["several"] = links.link_for_invoices([invoices["several-1"], invoices["several-2"]]).url
    return company, admin, invoices, dispute, guest_urls


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_customer_or_guest_page_has_a_serious_accessibility_violation(
        new_context, live_server, live_db, sign_in, enter_card, stripe_server, books, language):
    company, admin, invoices, dispute, guest_urls = books
    app = live_server.app
    audit = Audit(app)
    locale = "fr-FR" if language == "fr" else "en-GB"

    # Signed out: signing in, a refused password, a forgotten password, links that are no longer valid.
    page = new_context(locale=locale, bypass_csp=True).new_page()
    page.context.add_init_script(path=AXE)
    audit.visit(page, f"/login?lang={language}", "sign-in")
    page.locator("input[name=email]").fill(admin.email)
    page.locator("input[name=password]").fill("not the password")
    with page.expect_navigation():
        page.locator("main form[method=post] button[type=submit]").click()
    audit.of(page, "sign-in, password refused")
    audit.visit(page, "/forgot-password", "forgotten password")
    audit.visit(page, "/reset-password/not-a-token", "password reset, link not valid")
    audit.visit(page, "/invitation/not-a-token", "invitation, link not valid")

    # A clerk of the company (an admin: every customer page is theirs).
    sign_in(page, admin)
    audit.visit(page, "/invoices", "invoice list")
    with page.expect_response(lambda response: "/invoices?" in response.url):
        page.locator("#filters select[name=status]").select_option("overdue")
    expect(page.locator("#results")).to_contain_text(invoices["overdue"].number)
    # What the list now holds is read out: the results' summary, in the status region outside them.
    summary = ". ".join(part.strip() for part in page.locator("#results [data-summary]").all_inner_texts())
    assert re.match(r"4 (invoices|factures)\. ", summary)
    expect(page.locator("[data-summary-of='#results']")).to_have_text(summary)
    audit.of(page, "invoice list, filtered by htmx")
    audit.visit(page, "/invoices?status=bogus&amount_min=abc", "invoice list, filters not valid")
    for name, invoice in invoices.items():
        if name in ("open", "overdue", "partly-paid", "paid", "credited", "disputed"):
            audit.visit(page, f"/invoices/{invoice.id}", f"invoice {name}")
    audit.visit(page, f"/invoices/{invoices['overdue'].id}/disputes/new", "new dispute")
    audit.visit(page, "/disputes", "disputes")
    audit.visit(page, f"/disputes/{dispute.id}", "a dispute")
    # A message sent swaps the thread (htmx): the status region says it now holds two.
    page.locator("form.message-form textarea[name=body]").fill("Voici le bon de livraison signé.")
    with page.expect_response(lambda response: response.url.endswith("/messages")):
        page.locator("form.message-form button[type=submit]").first.click()
    expect(page.locator("[data-summary-of='#thread']")).to_have_text(re.compile(r"\. 2 messages$"))
    audit.of(page, "a dispute, after a message sent")

    audit.visit(page, "/payments/cards", "saved cards, none")
    audit.visit(page, "/payments/cards/new", "add a card")
    enter_card(page.locator("form[data-card-setup]"), VISA)
    with page.expect_navigation():
        page.locator("form[data-card-setup] button[type=submit]").click()
    audit.of(page, "saved cards, one")
    audit.visit(page, f"/payments/new?invoice={invoices['open'].id}&invoice={invoices['overdue'].id}", "pay page")
    audit.visit(page, f"/payments/new?invoice={invoices['paid'].id}", "pay page, nothing to pay")
    page.goto(f"/payments/new?invoice={invoices['open'].id}")
    with page.expect_navigation():
        page.locator("[data-pay]").click()
    audit.of(page, "payment received")
    audit.visit(page, "/payments", "payments")

    see_what_the_server_committed(live_db)
    card = live_db.scalar(select(SavedCard).where(SavedCard.company_id == company.id))
    audit.visit(page, "/autopay", "autopay, off")
    audit.visit(page, f"/autopay/review?card={card.id}&days_before_due=0", "autopay authorisation")
    page.locator("form[data-autopay-accept] input[type=checkbox]").check()
    with page.expect_navigation():
        page.locator("form[data-autopay-accept] button[type=submit]").click()
    audit.of(page, "autopay, on")
    audit.visit(page, "/autopay/cancel", "stopping autopay")

    see_what_the_server_committed(live_db)  # on SQLite a write after reading an old snapshot is refused
    set_rule(live_db, admin, company=company, threshold=1_00, payers_may_approve=False)
    live_db.commit()
    page.goto(f"/payments/new?invoice={invoices['to-approve'].id}")
    with page.expect_navigation():
        page.locator("[data-pay]").click()
    audit.of(page, "payment waiting for approval")
    audit.visit(page, "/approvals", "approvals")

    audit.visit(page, "/account", "profile")
    audit.visit(page, "/password", "change password")
    audit.visit(page, "/account/users", "users and roles")
    audit.visit(page, "/account/recipients", "billing recipients")
    audit.visit(page, "/account/fields", "company fields")
    audit.visit(page, "/statements", "statement")
    audit.visit(page, "/invoices/999999", "invoice not found")
    audit.visit(page, "/this-page-does-not-exist", "page not found")

    # The PAY NOW pages, signed out.
    page = new_context(locale=locale, bypass_csp=True).new_page()
    page.context.add_init_script(path=AXE)
    audit.visit(page, f"{guest_urls['guest']}?lang={language}", "PAY NOW")
    audit.visit(page, guest_urls["disputed"], "PAY NOW, partly disputed")
    audit.visit(page, guest_urls["paid"], "PAY NOW, paid")
    audit.visit(page, guest_urls["resting"], "PAY NOW, resting after declined cards")
    expect(page.locator("form[data-card-setup]")).to_have_count(0)
    audit.visit(page, guest_urls["expired"], "PAY NOW, expired")
    expect(page.locator("form[data-card-setup]")).to_have_count(0)
    audit.visit(page, "/pay/not-a-link", "PAY NOW, not valid")
    page.goto(guest_urls["guest"])
    guest_pays(page, enter_card)
    audit.of(page, "PAY NOW, payment received")
    audit.visit(page, guest_urls["several"], "PAY NOW, several invoices")
    guest_pays(page, enter_card)
    audit.of(page, "PAY NOW, several invoices, payment received")
    audit.visit(page, guest_urls["several"], "PAY NOW, several invoices, all paid")

    assert not audit.failures, (f"{len(audit.failures)} serious or critical accessibility violation(s) "
                                f"in {language}:\n" + "\n".join(audit.failures))
    assert page_endpoints(app) - audit.audited_endpoints == set(), "pages no audit opened (or add them to NOT_PAGES)"


def guest_pays(page: Page, enter_card) -> None:
    form = page.locator("form[data-card-setup]")
    form.locator("input[name=email]").fill("payer@dupont.test")
    enter_card(form, VISA)
    with page.expect_navigation():
        form.locator("[data-pay]").click()
    expect(page.locator("form[data-card-setup]")).to_have_count(0)



def test_the_audit_fails_a_page_with_serious_violations(new_context, live_server):
    """The audit is no formality: a page with an unlabelled field, an image without text and grey on grey fails."""
    page = new_context(bypass_csp=True).new_page()
    page.context.add_init_script(path=AXE)
    page.goto("/login")
    page.set_content('<html lang="en"><head><title>Bad</title></head><body><main><h1>Bad</h1>'
                     '<input name="x"><img src="/static/favicon.svg">'
                     '<p style="color: #aaa; background: #bbb">Faint</p></main></body></html>')
    audit = Audit(live_server.app)

    audit.of(page, "a bad page")

    assert {failure.split(": ")[1].split(" ")[0] for failure in audit.failures} == {
        "label", "image-alt", "color-contrast"}
