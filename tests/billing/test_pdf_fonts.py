"""The PDFs' fonts are read once per process, and every document still embeds the glyphs it shows."""

import io
import re
import struct
from datetime import date
from decimal import Decimal

import pytest
from fontTools.ttLib import TTFont
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
    # Every character drawn has its outline in the font embedded, the Greek ones (the buyer's name is in bold) too.
    for document in documents[:2]:
        for composite, descendant, descriptor in font_dictionaries(document).values():
            font = TTFont(io.BytesIO(descriptor["/FontFile2"]))
            glyf, names = font["glyf"], font.getGlyphOrder()
            characters = characters_by_code(composite["/ToUnicode"])
            assert all(glyf[names[glyph_id]].numberOfContours
                       for code, glyph_id in glyph_ids_by_code(descendant["/CIDToGIDMap"]).items()
                       if not characters[code].isspace())


def drawn(*texts: tuple[str, str]) -> pdf_fonts.DocumentPdf:
    """A page of `texts`, each a (style, text) pair on its own line."""
    pdf = pdf_fonts.DocumentPdf()
    pdf.add_page()
    for style, text in texts:
        pdf.set_font("DejaVu", style, 10)
        pdf.cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
    return pdf


def font_dictionaries(pdf: bytes) -> dict[str, tuple[dict, dict, dict]]:
    """Each font of `pdf` by name: its Type0 dictionary, its CIDFont's and its descriptor's, streams read."""
    def read(dictionary) -> dict:
        return {key: value.get_object().get_data() if hasattr(value.get_object(), "get_data") else value.get_object()
                for key, value in dictionary.items()}

    fonts = {}
    for font in PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].values():
        composite = font.get_object()
        descendant = composite["/DescendantFonts"][0].get_object()
        fonts[composite["/BaseFont"]] = (read(composite), read(descendant), read(descendant["/FontDescriptor"]))
    return fonts


def shown(program: bytes, glyph_id: int) -> tuple:
    """What glyph `glyph_id` of the TrueType `program` draws: advance, outline (components resolved), hinting."""
    font = TTFont(io.BytesIO(program))
    glyf, name = font["glyf"], font.getGlyphOrder()[glyph_id]
    coordinates, contour_ends, flags = glyf[name].getCoordinates(glyf)
    program_of_glyph = glyf[name].program.getBytecode() if hasattr(glyf[name], "program") else b""
    return font["hmtx"][name], list(coordinates), list(contour_ends), bytes(flags), program_of_glyph


def glyph_ids_by_code(cid_to_gid_map: bytes) -> dict[int, int]:
    return {code: glyph_id for code, (glyph_id,) in enumerate(struct.iter_unpack(">H", cid_to_gid_map)) if glyph_id}


def characters_by_code(to_unicode: bytes) -> dict[int, str]:
    return {int(code, 16): bytes.fromhex(character.decode()).decode("utf-16-be")
            for code, character in re.findall(rb"<([0-9A-F]{4})> <([0-9A-F]+)>", to_unicode)}


@pytest.mark.parametrize("texts", [
    (("", "Façade, œuvre, Łódź, Dřevo: 1 234,56 € — « ok »"), ("B", "Ĳssel ǅ Ŧ ő ÿ")),
    (("", "Αθηνά Εμπορική ΑΕ"), ("B", "Façade")),  # Greek: regular cut from the whole font, bold from the repertoire
], ids=["latin", "greek"])
def test_fonts_are_written_as_fpdf2_writes_them_each_code_drawing_the_same_glyph(texts):
    ours = font_dictionaries(drawn(*texts).pdf_bytes())
    # The same document through fpdf2's own writer, which cuts fonts with fontTools' subsetter.
    fpdf2s = font_dictionaries(bytes(drawn(*texts).output()))

    assert ours.keys() == fpdf2s.keys() == {"/MPDFAA+DejaVuSansBook", "/MPDFAA+DejaVuSansBold"}
    for name, (composite, descendant, descriptor) in ours.items():
        fpdf2_composite, fpdf2_descendant, fpdf2_descriptor = fpdf2s[name]
        assert composite.keys() == fpdf2_composite.keys()
        assert {key: composite[key] for key in composite.keys() - {"/DescendantFonts"}} == \
            {key: fpdf2_composite[key] for key in fpdf2_composite.keys() - {"/DescendantFonts"}}
        assert descendant.keys() == fpdf2_descendant.keys()
        differing = {"/FontDescriptor", "/CIDToGIDMap"}
        assert {key: descendant[key] for key in descendant.keys() - differing} == \
            {key: fpdf2_descendant[key] for key in fpdf2_descendant.keys() - differing}
        assert {key: descriptor[key] for key in descriptor.keys() - {"/FontFile2"}} == \
            {key: fpdf2_descriptor[key] for key in fpdf2_descriptor.keys() - {"/FontFile2"}}
        glyph_ids, fpdf2_glyph_ids = (glyph_ids_by_code(descendant["/CIDToGIDMap"]),
                                      glyph_ids_by_code(fpdf2_descendant["/CIDToGIDMap"]))
        assert glyph_ids.keys() == fpdf2_glyph_ids.keys() and len(glyph_ids) > 5
        for code, glyph_id in glyph_ids.items():
            assert shown(descriptor["/FontFile2"], glyph_id) == shown(fpdf2_descriptor["/FontFile2"], fpdf2_glyph_ids[code])
        for table in ("cvt ", "fpgm", "prep"):
            assert (TTFont(io.BytesIO(descriptor["/FontFile2"])).reader[table]
                    == TTFont(io.BytesIO(fpdf2_descriptor["/FontFile2"])).reader[table])


def test_a_font_cut_from_the_repertoire_holds_the_glyphs_drawn_those_they_are_made_of_and_notdef_only():
    pdf = drawn(("", "Façade : 12,50 €"))

    (_, descendant, descriptor), = [fonts for name, fonts in font_dictionaries(pdf.pdf_bytes()).items()
                                    if name == "/MPDFAA+DejaVuSansBook"]
    font = TTFont(io.BytesIO(descriptor["/FontFile2"]))
    glyf, names = font["glyf"], font.getGlyphOrder()
    drawn_ids = set(glyph_ids_by_code(descendant["/CIDToGIDMap"]).values())
    made_of = {font.getGlyphID(part) for glyph_id in drawn_ids if glyf[names[glyph_id]].isComposite()
               for part in glyf[names[glyph_id]].getComponentNames(glyf)}
    with_outline = {glyph_id for glyph_id, name in enumerate(names) if glyf[name].numberOfContours}

    # ç is c and a cedilla; the space has no outline; the repertoire's 480-odd other glyphs are left empty.
    assert made_of and len(names) > 400
    assert with_outline == {0} | (drawn_ids | made_of) - {font.getGlyphID("space")}
