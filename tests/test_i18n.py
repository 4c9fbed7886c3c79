"""French and English: a complete catalogue, in step with the sources, on pages, e-mails and PDFs.

English is the source language (the msgids); French lives in portal/translations/fr. After adding
a string, run scripts/update-translations and translate what it adds.
"""

import html
import io
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from pypdf import PdfReader

from portal.billing.document_files import DocumentFormat, invoice_file
from portal.billing.supplier import supplier_identity
from portal.demo import DEMO_SUPPLIER
from portal.mail import compose

ROOT = Path(__file__).resolve().parent.parent
FRENCH_PO = ROOT / "portal/translations/fr/LC_MESSAGES/messages.po"
FRENCH_MO = FRENCH_PO.with_suffix(".mo")

# Babel's French: a narrow no-break space groups thousands, a no-break space precedes the sign.
FRENCH_AMOUNT = "1\u202f234,56\u00a0€"
ENGLISH_AMOUNT = "€1,234.56"


def _french_catalogue() -> Catalog:
    with FRENCH_PO.open("rb") as po:
        return read_po(po)


def _key(message) -> str:
    singular = message.id[0] if isinstance(message.id, tuple) else message.id
    return f"{singular!r} (context {message.context!r})" if message.context else repr(singular)


def _contents(catalogue: Catalog) -> dict:
    """Each message's translation by (msgid, context); plural ids and forms as tuples."""

    def plain(value):
        return tuple(value) if isinstance(value, (list, tuple)) else value

    return {(plain(m.id), m.context): plain(m.string) for m in catalogue if m.id}


def _extracted_from_sources() -> Catalog:
    """What `pybabel extract -F babel.cfg` finds in the sources today."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    extracted = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        extracted.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return extracted


# The catalogue ---------------------------------------------------------------------------------


def test_every_french_message_is_translated_and_none_is_fuzzy():
    catalogue = _french_catalogue()
    assert catalogue.locale.language == "fr"
    assert catalogue.plural_expr == "(n > 1)"
    messages = [message for message in catalogue if message.id]
    assert len(messages) > 50
    untranslated = [_key(m) for m in messages if not all(m.string if m.pluralizable else [m.string])]
    fuzzy = [_key(m) for m in messages if m.fuzzy]
    assert not (untranslated or fuzzy), (
        f"No French translation for: {', '.join(untranslated) or '-'}; "
        f"fuzzy (unchecked) French translations for: {', '.join(fuzzy) or '-'}"
    )


def test_french_translations_keep_their_placeholders_and_plural_forms():
    problems = [f"{_key(message)}: {errors}" for message, errors in _french_catalogue().check()]
    assert not problems


def test_every_string_in_the_sources_is_in_the_french_catalogue():
    extracted = _extracted_from_sources()
    translated = {(message.id, message.context) for message in _french_catalogue() if message.id}
    missing = [_key(m) for m in extracted if m.id and (m.id, m.context) not in translated]
    assert not missing, (
        f"Not in the French catalogue: {', '.join(missing)}. "
        "Run scripts/update-translations, then translate them in " + str(FRENCH_PO.relative_to(ROOT))
    )


def test_extraction_finds_lazy_strings_templates_and_e_mails():
    extracted = _extracted_from_sources()
    found = {(message.id, message.context) for message in extracted}
    assert ("Please sign in to see this page.", None) in found  # `_l` in portal/i18n.py
    assert ("Paid", "invoice status") in found  # lazy_pgettext
    assert (("%(num)d invoice", "%(num)d invoices"), None) in found  # ngettext in a page
    assert ("Reset your password for %(supplier)s", None) in found  # an e-mail's subject.txt


def test_the_committed_mo_is_the_compiled_po():
    compiled = io.BytesIO()
    write_mo(compiled, _french_catalogue())
    compiled.seek(0)
    with FRENCH_MO.open("rb") as committed:
        shipped = read_mo(committed)
    assert _contents(shipped) == _contents(read_mo(compiled)), "Run scripts/update-translations to recompile"
    assert shipped.plural_forms == "nplurals=2; plural=(n > 1);"


# Pages -----------------------------------------------------------------------------------------


def _page(client, url: str) -> str:
    return client.get(url).get_data(as_text=True)


@pytest.fixture
def french_company(make):
    company = make.company(locale="fr", currency="EUR")
    make.invoice(company, total=123_456, issue_date=date(2025, 3, 5), due_date=date(2025, 4, 4))
    return company


def test_a_clerk_of_a_french_company_sees_invoices_in_french(make, login_as, french_company):
    client = login_as(make.user(french_company))

    page = _page(client, "/invoices")

    assert '<html lang="fr">' in page
    assert "<h1>Factures</h1>" in page
    assert "Montant dû" in page
    assert "1 facture" in page
    assert FRENCH_AMOUNT in page
    assert "5 mars 2025" in page
    assert ">En retard</span>" in page  # the status badge
    assert "Invoices" not in page and ENGLISH_AMOUNT not in page


def test_invoice_detail_tells_a_paid_status_from_an_amount_paid(make, login_as, french_company):
    invoice = make.invoice(french_company, total=10_000, issue_date=date(2025, 1, 1), due_date=date(2099, 1, 31))
    make.payment(invoice, 4_000)
    client = login_as(make.user(french_company))

    page = html.unescape(_page(client, f"/invoices/{invoice.id}"))

    assert ">Partiellement payée</span>" in page  # the status, agreeing with "facture"
    assert "Déjà payé" in page  # the totals line of what was paid
    assert "Date d'échéance" in page and "31 janvier 2099" in page
    assert "Paiements et avoirs" in page


def test_wtforms_own_messages_follow_the_page_language(make, login_as, french_company):
    client = login_as(make.user(french_company))

    response = client.get("/invoices?status=bogus")

    assert response.status_code == 400
    assert "Statut: N'est pas un choix valide." in html.unescape(response.get_data(as_text=True))


def test_lang_en_switches_to_english_for_the_rest_of_the_session(make, login_as, french_company):
    client = login_as(make.user(french_company))

    switched = _page(client, "/invoices?lang=en")
    later = _page(client, "/invoices")

    for page in (switched, later):
        assert '<html lang="en">' in page
        assert "<h1>Invoices</h1>" in page
        assert ENGLISH_AMOUNT in page
        assert "Mar 5, 2025" in page
        assert ">Overdue</span>" in page
        assert FRENCH_AMOUNT not in page
    assert '<html lang="fr">' in _page(client, "/invoices?lang=fr")
    assert '<html lang="fr">' in _page(client, "/invoices")


def test_an_english_speaking_user_of_a_french_company_reads_english(make, login_as, french_company):
    client = login_as(make.user(french_company, locale="en"))

    page = _page(client, "/invoices")

    assert "<h1>Invoices</h1>" in page
    assert "Amount due" in page
    assert ENGLISH_AMOUNT in page


@pytest.mark.parametrize(
    ("accept_language", "heading", "html_lang"),
    [
        ("en-GB,en;q=0.8", "<h1>Sign in</h1>", "en"),
        ("fr-CA,fr;q=0.9,en;q=0.5", "<h1>Se connecter</h1>", "fr"),
        ("de-DE,de;q=0.9", "<h1>Se connecter</h1>", "fr"),  # neither offered: French, the default
    ],
)
def test_the_sign_in_page_speaks_the_browsers_language(client, accept_language, heading, html_lang):
    page = client.get("/login", headers={"Accept-Language": accept_language}).get_data(as_text=True)

    assert heading in page
    assert f'<html lang="{html_lang}">' in page


def test_a_french_browser_sees_french_form_labels_and_errors(client):
    response = client.post("/login", data={"email": "nobody@example.test", "password": "wrong password"},
                           headers={"Accept-Language": "fr"})
    page = response.get_data(as_text=True)

    assert "Adresse e-mail ou mot de passe incorrect." in page
    assert "Mot de passe oublié\u00a0?" in page


# E-mails ---------------------------------------------------------------------------------------


def _password_reset(locale: str, user):
    return compose.render(
        "password_reset", locale, user=user, reset_url="http://portal.test/reset-password/t0ken",
        supplier_name="Fournitures Dupont",
    )


def test_password_reset_e_mail_in_french(make):
    email = _password_reset("fr", make.user(make.company(), email="compta@client.test"))

    assert email.subject == "Réinitialisation de votre mot de passe sur le portail Fournitures Dupont"
    assert email.text.startswith("Bonjour,")
    assert "de votre compte (compta@client.test)" in email.text
    assert "http://portal.test/reset-password/t0ken" in email.text
    assert "votre mot de passe reste inchangé." in email.text
    assert "Choisir un nouveau mot de passe" in email.html
    assert "Hello" not in email.text + email.html


def test_password_reset_e_mail_in_english(make):
    email = _password_reset("en", make.user(make.company(), email="ap@customer.test"))

    assert email.subject == "Reset your password for Fournitures Dupont"
    assert email.text.startswith("Hello,")
    assert "your account (ap@customer.test)" in email.text
    assert "Choose a new password" in email.html
    assert "Bonjour" not in email.text + email.html


# PDF -------------------------------------------------------------------------------------------
#
# The text is read back from the PDF with pypdf, as a reader's software would; the title is in
# the PDF's Info dictionary. tests/billing/test_documents.py checks the legal mentions.


def _render_pdf(db, invoice, locale: str) -> tuple[bytes, str]:
    document = invoice_file(db, invoice, supplier_identity(DEMO_SUPPLIER), file_format=DocumentFormat.PDF,
                            locale=locale).content
    reader = PdfReader(io.BytesIO(document))
    return document, "\n".join(page.extract_text() for page in reader.pages)


def test_invoice_pdf_in_french(db, make):
    company = make.company(locale="fr")
    invoice = make.invoice(company, total=123_456, po_number="BC-77",
                           issue_date=date(2025, 3, 5), due_date=date(2025, 4, 4))

    document, text = _render_pdf(db, invoice, "fr")

    assert document.startswith(b"%PDF-")
    assert PdfReader(io.BytesIO(document)).metadata.title == f"Facture {invoice.number}"
    for label in ("FACTURE", f"N° {invoice.number}", "Facturé à", "Date d'émission", "Date d'échéance",
                  "N° de bon de commande", "Désignation", "Quantité", "Prix unitaire HT", "Montant HT", "Total HT",
                  "TVA", "Total TTC", "Montant dû", "5 mars 2025", "4 avril 2025"):
        assert label in text
    # The PDF swaps Babel's narrow no-break space for a plain one, which every viewer's font has.
    assert FRENCH_AMOUNT.replace("\u202f", "\u00a0") in text
    assert "Amount due" not in text


def test_invoice_pdf_in_english(db, make):
    invoice = make.invoice(make.company(locale="en"), total=123_456)

    document, text = _render_pdf(db, invoice, "en")

    assert PdfReader(io.BytesIO(document)).metadata.title == f"Invoice {invoice.number}"
    for label in ("INVOICE", f"No. {invoice.number}", "Issue date", "Due date", "Total incl. tax", "Amount due",
                  ENGLISH_AMOUNT):
        assert label in text
    assert "Montant dû" not in text
