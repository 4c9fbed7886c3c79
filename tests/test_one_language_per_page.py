"""Every customer and guest page, and every error message, reads in one language.

The vocabulary comes from the French catalogue itself: a word of the English msgids that no
French translation uses is English, and a word of the French translations that no msgid uses
is French. A French page must show no English word and an English page no French one. Data
the test itself typed (names, numbers, e-mail addresses, what a customer wrote) is left out
before reading, and so is the language switcher, which names the other language in it.

The walk must reach every GET page of the customer and PAY NOW routes (see
tests/blueprints/test_tenancy.py), so a new page is read as soon as it exists.
"""

import re
from datetime import date, timedelta

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale
from sqlalchemy import select

from portal import errors
from portal.approvals.service import set_rule
from portal.audit import Actor
from portal.billing.invoices import void_invoice
from portal.billing.money import Money
from portal.guest.links import PayLinks
from portal.guest.service import GuestLimits
from portal.models import Payment, Role, SavedCard
from portal.payments import fake_gateway
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import parse
from tests.blueprints.test_pay_page import posted_form, save_card
from tests.blueprints.test_tenancy import ROUTE_ACCESS, Access
from tests.conftest import TEST_SECRET_KEY
from tests.guest.conftest import attempt_key_on, setup_id_on
from tests.test_i18n import FRENCH_PO

TODAY = date.today()
# The fixture's own words: what people typed or named, shown as they wrote it in any language.
DATA = ["Dupont Rivière SARL", "compta@dupont.test", "Visa", "Mastercard", "Services", "Acquit Demo Supplier",
        "Le prix unitaire n'est pas celui du devis.", "Commande annulée", "Marie Lefèvre", "Paul Girard",
        # How the builders' payments say they were made: the ERP's own words, as it sent them.
        "Bank transfer"]
# Pages not made of words: downloads and attachments.
NOT_PAGES = {"invoices.pdf", "invoices.export", "invoices.export_payments", "invoices.facturx", "invoices.credit_note",
             "invoices.download_zip", "guest.pdf", "disputes.attachment", "statements.pdf"}
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|<[^>]+>")
_WORD = re.compile(r"[^\W\d_]{3,}")
_READ_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(_PLACEHOLDER.sub(" ", text).lower()))


def _vocabularies() -> tuple[set[str], set[str]]:
    english, french = set(), set()
    with FRENCH_PO.open("rb") as po:
        for message in read_po(po):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
            strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
            for text in ids:
                english |= _words(text)
            for text in strings:
                french |= _words(text)
    return english - french, french - english


ENGLISH_ONLY, FRENCH_ONLY = _vocabularies()


def _readable_text(html: str) -> list[str]:
    """Each piece of text a reader meets on the page: text, labels read aloud, button values."""
    pieces = []

    def walk(element, page_language):
        language = element.attrs.get("lang", page_language)
        if language != page_language or element.tag in ("head", "script", "style", "template"):
            return
        for name in _READ_ATTRIBUTES:
            if element.attrs.get(name):
                pieces.append(element.attrs[name])
        if element.tag == "input" and element.attrs.get("type") in ("submit", "button"):
            pieces.append(element.attrs.get("value", ""))
        for child in element.children:
            if isinstance(child, str):
                pieces.append(child)
            else:
                walk(child, language)

    root = parse(html)
    html_element = root.find("html")
    walk(html_element, html_element.attrs.get("lang"))
    title = root.find("title")
    pieces.extend(child for child in title.children if isinstance(child, str))
    return pieces


def foreign_words(text_pieces, language: str, data=DATA) -> list[str]:
    """The words of the other language in `text_pieces`, with the piece each was found in."""
    foreign = ENGLISH_ONLY if language == "fr" else FRENCH_ONLY
    found = []
    for piece in text_pieces:
        for value in data:
            piece = piece.replace(value, " ")
        piece = re.sub(r"\S+@\S+", " ", piece)
        if wrong := sorted(_words(piece) & foreign):
            found.append(f"{wrong} in {' '.join(piece.split())!r}")
    return found


def test_the_vocabularies_are_big_enough_to_catch_a_stray_sentence():
    assert {"the", "invoice", "paid", "already", "card", "declined"} <= ENGLISH_ONLY
    assert {"facture", "payée", "déjà", "carte", "refusée"} <= FRENCH_ONLY
    assert foreign_words(["Invoice F-1 is already paid."], "fr")
    assert foreign_words(["La facture F-1 est déjà payée."], "en")
    assert not foreign_words(["La facture F-1 est déjà payée."], "fr")


# Error messages --------------------------------------------------------------------------------

SAMPLE_PARAMS = {"number": "F-2026-0042", "amount": Money(1956_35, "EUR"), "count": 5}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_error_message_reads_in_the_page_language(app, language):
    with app.test_request_context(), force_locale(language):
        messages = {code: errors.error_message(code, **SAMPLE_PARAMS) for code in errors.ERRORS}

    wrong = {code: found for code, message in messages.items() if (found := foreign_words([message], language))}
    assert not wrong
    if language == "fr":
        assert "1\u202f956,35\u00a0€" in messages["amount_above_payable"]
    else:
        assert "€1,956.35" in messages["amount_above_payable"]


def test_the_api_answers_every_error_in_english_with_a_string_code(client):
    unknown = client.get("/api/v1/nothing-here", headers={"Accept-Language": "fr"})
    refused = client.get("/api/v1/invoices", headers={"Accept-Language": "fr"})

    assert unknown.status_code == 404
    assert unknown.json == {"error": {"code": "not_found", "message": "We could not find that page.", "field": None}}
    assert refused.status_code == 401 and isinstance(refused.json["error"]["code"], str)
    assert not foreign_words([unknown.json["error"]["message"], refused.json["error"]["message"]], "en")


# Pages -----------------------------------------------------------------------------------------


@pytest.fixture
def app_overrides():
    return {"ACQUIT_GUEST_LIMITS": GuestLimits(declines_before_rest=1)}


@pytest.fixture
def pay_links() -> PayLinks:
    return PayLinks(TEST_SECRET_KEY, "http://portal.test")


@pytest.fixture
def gateway(app):
    return services_of(app).payments.gateway


@pytest.fixture
def books(make, db, app):
    """A French customer with an invoice in every state, a saved card, payments made and failed, a dispute."""
    from portal.blueprints.app_services import services

    company = make.company(ref="DUPONT", name=DATA[0], locale="fr", billing_emails=["compta@dupont.test"])
    admin = make.user(company, role=Role.ADMIN, email="compta@dupont.test", locale=None)
    admin.full_name = DATA[8]
    make.user(company, role=Role.ADMIN).full_name = DATA[9]  # someone to approve what the admin prepares

    def invoice(number, total, *, days_late=-20):
        due = TODAY - timedelta(days=days_late)
        return make.invoice(company, number=number, total=total, issue_date=due - timedelta(days=30), due_date=due,
                            po_number="BC-77")

    invoices = {
        "open": invoice("F-1001", 1956_35),
        "overdue": invoice("F-1002", 480_00, days_late=12),
        "partly_paid": invoice("F-1003", 900_00),
        "paid": invoice("F-1004", 120_00),
        "credited": invoice("F-1005", 300_00),
        "disputed": invoice("F-1006", 1000_00),
        "void": invoice("F-1007", 75_00),
        "to_decline": invoice("F-1008", 55_00),
    }
    make.payment(invoices["partly_paid"], 400_00)
    make.payment(invoices["paid"], 120_00)
    make.credit_note(invoices["credited"], 100_00)
    void_invoice(db, Actor.system("tests"), invoices["void"], DATA[7])
    with app.app_context():
        context = services().disputes
    make.dispute(context, invoices["disputed"], admin, amount=400_00, message=DATA[6])
    db.commit()
    return company, admin, invoices


def _walk(client, db, gateway, books, language: str, pay_links) -> dict[str, list[str]]:
    """Every customer and guest page of `books` in `language`: the page's address and its text."""
    company, admin, invoices = books
    pages: dict[str, str] = {}

    def visit(url, response=None, *, expect=(200,)):
        response = response or client.get(url)
        assert response.status_code in expect, (url, response.status_code)
        pages[url] = response.get_data(as_text=True)
        return response

    client.post("/login", data={"email": admin.email, "password": "correct horse battery"})
    set_language(client, language)
    # A saved card, then a payment made and one declined.
    visit("/payments/cards/new")
    save_card(client, gateway)
    visit("/payments/cards")
    for key in ("open", "partly_paid", "disputed", "overdue"):
        visit(f"/payments/new?invoice={invoices[key].id}")
    form = posted_form(client.get(f"/payments/new?invoice={invoices['open'].id}"))
    visit("/payments (more than due)", client.post("/payments", data={**form, "amount": "99999"}), expect=(400,))
    paid = client.post("/payments", data=form)
    assert paid.status_code == 303
    visit(paid.headers["Location"])
    visit("/payments (already paid)", client.post("/payments", data={**form, "attempt_key": "0" * 32}),
          expect=(409,))
    # A declined card: the pay page says why, the failed payment's page offers to try again.
    declined = save_card(client, gateway, fake_gateway.DECLINED_ON_CHARGE,
                         next_url=f"/payments/new?invoice={invoices['to_decline'].id}")
    form = posted_form(client.get(declined.headers["Location"]))
    visit("/payments (declined)", client.post("/payments", data=form), expect=(402,))
    visit("/payments")
    visit("/invoices")
    visit("/invoices?status=bogus", expect=(400,))
    visit("/invoices?status=overdue&sort=amount&direction=asc")
    for invoice in invoices.values():
        visit(f"/invoices/{invoice.id}")
    visit(f"/invoices/{invoices['overdue'].id}/disputes/new")
    visit("/disputes")
    visit("/autopay")
    card_id = db.scalar(select(SavedCard.id).where(SavedCard.company_id == company.id).order_by(SavedCard.id))
    visit(f"/autopay/review?card={card_id}&days_before_due=0")
    visit("/autopay/cancel", expect=(200, 303))
    # A payment above the company's approval threshold waits for a second person.
    set_rule(db, admin, company=company, threshold=1_00, payers_may_approve=False)
    db.flush()
    awaiting = client.post("/payments", data=posted_form(client.get(f"/payments/new?invoice={invoices['credited'].id}")))
    assert awaiting.status_code == 303, awaiting.status_code
    visit(awaiting.headers["Location"])
    visit("/approvals")
    visit("/account/users")
    visit("/account/recipients")
    visit("/account/fields")
    visit("/statements")
    visit("/invoices/999999", expect=(404,))
    visit("/this-page-does-not-exist", expect=(404,))
    # The PAY NOW pages, signed out.
    client.post("/logout")
    set_language(client, language)
    for key in ("overdue", "disputed", "paid", "void"):
        visit(f"/pay/{pay_links.link_for(invoices[key]).token}")
    # Paying what is not disputed of the partly disputed invoice, then its receipt.
    disputed_token = pay_links.link_for(invoices["disputed"]).token
    guest_page = client.get(f"/pay/{disputed_token}").get_data(as_text=True)
    gateway.complete_setup(setup_id_on(guest_page))
    receipt = client.post(f"/pay/{disputed_token}", data={
        "setup_id": setup_id_on(guest_page), "attempt_key": attempt_key_on(guest_page), "email": "compta@dupont.test"})
    assert receipt.status_code == 303
    visit(receipt.headers["Location"])
    token = pay_links.link_for(invoices["overdue"]).token
    guest_page = client.get(f"/pay/{token}").get_data(as_text=True)
    visit("/pay (no e-mail)", client.post(f"/pay/{token}", data={
        "setup_id": setup_id_on(guest_page), "attempt_key": attempt_key_on(guest_page), "email": ""}), expect=(400,))
    guest_page = client.get(f"/pay/{token}").get_data(as_text=True)
    gateway.complete_setup(setup_id_on(guest_page), fake_gateway.DECLINED_ON_CHARGE)
    visit("/pay (declined)", client.post(f"/pay/{token}", data={
        "setup_id": setup_id_on(guest_page), "attempt_key": attempt_key_on(guest_page),
        "email": "compta@dupont.test"}), expect=(402,))
    visit(f"/pay/{token} (resting)", client.get(f"/pay/{token}"))
    several = pay_links.link_for_invoices([invoices["overdue"], invoices["open"], invoices["partly_paid"]]).token
    visit(f"/pay/invoices/{several}")
    visit(f"/pay/invoices/{several}/payments/999999", expect=(404,))
    visit("/pay/not-a-link", expect=(404,))
    visit("/login")
    visit("/forgot-password")
    visit("/reset-password/not-a-token", expect=(200, 400, 404))
    visit("/invitation/not-a-token", expect=(200, 400, 404))
    return pages


def _payments_pages(client, db, pages):
    for payment_id in db.scalars(select(Payment.id)):
        url = f"/payments/{payment_id}"
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.get_data(as_text=True)


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_customer_and_guest_page_reads_in_one_language(app, client, db, gateway, pay_links, books, language):
    pages = _walk(client, db, gateway, books, language, pay_links)
    client.post("/login", data={"email": books[1].email, "password": "correct horse battery"})
    set_language(client, language)
    _payments_pages(client, db, pages)
    dispute_url = re.search(r'href="(/disputes/\d+)"', client.get("/disputes").get_data(as_text=True)).group(1)
    pages[dispute_url] = client.get(dispute_url).get_data(as_text=True)

    wrong = {url: found for url, html in pages.items() if (found := foreign_words(_readable_text(html), language))}
    assert not wrong
    for url, html in pages.items():
        assert f'<html lang="{language}">' in html, url
    _assert_every_page_was_read(app, pages)


def _assert_every_page_was_read(app, pages):
    adapter = app.url_map.bind("portal.test")
    read = set()
    for url in pages:
        path = url.split(" ", 1)[0].split("?", 1)[0]
        try:
            endpoint, _ = adapter.match(path, method="GET")
        except Exception:  # a POST's answer, or a page that is not there: read, but names no GET route
            continue
        read.add(endpoint)
    get_pages = {rule.endpoint for rule in app.url_map.iter_rules()
                 if "GET" in rule.methods and ROUTE_ACCESS.get(rule.endpoint) in (Access.CUSTOMER, Access.PAY_LINK)}
    assert get_pages - NOT_PAGES - read == set()
