"""The PDFs' fonts are read once per process, and every document still embeds the glyphs it shows."""

import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from portal.audit import Actor
from portal.billing import pdf_fonts
from portal.billing.document_files import DocumentFormat, credit_note_file, invoice_file
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note
from portal.billing.supplier import supplier_identity
from portal.demo import DEMO_SUPPLIER
from portal.statements.account import statement_of_account
from portal.statements.pdf import render_statement_pdf

ACTOR = Actor.system("tests")
SUPPLIER = supplier_identity(DEMO_SUPPLIER)


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def embedded_fonts(pdf: bytes) -> list[bytes]:
    """The font programs embedded in `pdf` (FontFile2 streams), in the order found."""
    fonts = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            fonts.append(descendant["/FontDescriptor"].get_object()["/FontFile2"].get_object().get_data())
    return fonts


@pytest.fixture
def invoice(db, make):
    def made(name: str, number: str):
        company = make.company(name=name)
        return create_invoice(db, ACTOR, company=company, number=number, issue_date=date(2026, 11, 2),
                              due_date=date(2026, 12, 2), currency="EUR",
                              lines=[LineInput(description="Farine T65 — sac de 25 kg, qualité supérieure",
                                               quantity=Decimal(2), unit_amount=21_50, tax_rate=Decimal("5.5"))])
    return made


def test_documents_drawn_after_the_first_parse_no_font(db, make, invoice, monkeypatch):
    first = invoice("Boulangeries Martin SAS", "F-FONT-1")
    invoice_file(db, first, SUPPLIER, file_format=DocumentFormat.PDF)
    parsed = []
    original = pdf_fonts.TTFFont.__init__

    def counting(self, *args, **kwargs):
        parsed.append(args[1])
        original(self, *args, **kwargs)

    monkeypatch.setattr(pdf_fonts.TTFFont, "__init__", counting)
    second = invoice("Atelier Dupont & Fils SARL", "F-FONT-2")
    note = issue_credit_note(db, ACTOR, invoice=second, number="AV-FONT-2", amount=10_00,
                             issue_date=date(2026, 11, 3), reason="Geste commercial")
    statement = statement_of_account(db, second.company, start=date(2026, 11, 1), end=date(2026, 11, 30))

    drawn = [invoice_file(db, second, SUPPLIER, file_format=DocumentFormat.PDF).content,
             invoice_file(db, second, SUPPLIER, file_format=DocumentFormat.FACTURX).content,
             credit_note_file(db, note, SUPPLIER, file_format=DocumentFormat.PDF).content,
             render_statement_pdf(statement, supplier_name=SUPPLIER.name, locale="fr")]

    assert parsed == []
    assert all(document.startswith(b"%PDF") for document in drawn)
    assert "Atelier Dupont & Fils SARL" in text_of(drawn[0]) and "qualité supérieure" in text_of(drawn[0])


def test_a_name_in_greek_is_embedded_from_the_whole_font_and_the_next_latin_document_from_the_lean_one(
        db, make, invoice):
    greek = invoice("Αθηνά Εμπορική ΑΕ", "F-GR-1")
    latin = invoice("Łódź Dřevo s.r.o.", "F-PL-1")

    documents = [invoice_file(db, document, SUPPLIER, file_format=DocumentFormat.PDF).content
                 for document in (latin, greek, latin, greek)]

    assert "Łódź Dřevo s.r.o." in text_of(documents[0]) and "Αθηνά Εμπορική ΑΕ" in text_of(documents[1])
    # Drawing the Greek one in between changed nothing of what the Latin one embeds, and the reverse.
    assert embedded_fonts(documents[0]) == embedded_fonts(documents[2])
    assert embedded_fonts(documents[1]) == embedded_fonts(documents[3])
    # The Greek letters are in what the Greek document embeds (the buyer's name is in bold), not the Latin one's.
    assert sum(map(len, embedded_fonts(documents[1]))) > sum(map(len, embedded_fonts(documents[0])))
