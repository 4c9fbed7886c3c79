"""Factur-X: the invoice PDF with its EN 16931 data embedded, for the buyer's software to book.

`facturx_xml` writes a `BillingDocument` as Cross Industry Invoice XML at the EN 16931
profile; `facturx_pdf` checks it against the XSD the `factur-x` library ships and embeds it
in the PDF of the same document, which the library turns into PDF/A-3. The figures are the
very ones the PDF prints, taken from the same `BillingDocument`.

Credits are separate documents in EN 16931: an invoice's XML shows what payments settled
as its prepaid amount and what remains to pay after them; its credit notes are their own
documents (type 381) that reference it.
"""

from decimal import Decimal

from facturx import generate_from_binary, xml_check_xsd
from lxml import etree

from portal.billing.documents import BillingDocument, document_translations
from portal.billing.money import minor_unit_digits, to_decimal
from portal.billing.pdf import RECOVERY_INDEMNITY_EUR_CENTS, render_document_pdf

NAMESPACES = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
# UNTDID 1001: commercial invoice, credit note.
INVOICE_TYPE_CODE = "380"
CREDIT_NOTE_TYPE_CODE = "381"
# UNTDID 4461: 58 is a SEPA credit transfer, 30 any other credit transfer, 54 a card.
SEPA_TRANSFER, CARD = "58", "54"
# ISO 6523 schemes: 0002 is France's SIRENE (SIREN), 0009 a SIRET.
SIREN_SCHEME, SIRET_SCHEME = "0002", "0009"
# UN/ECE Recommendation 20: "one", for lines counted in units.
UNIT_CODE = "C62"


def facturx_pdf(document: BillingDocument) -> bytes:
    """The document's PDF with its EN 16931 XML embedded as Factur-X (PDF/A-3)."""
    xml = facturx_xml(document)
    xml_check_xsd(xml, flavor="factur-x", level="en16931")
    gettext = document_translations(document.locale).gettext
    title = (gettext("Credit note") if document.is_credit_note else gettext("Invoice")) + f" {document.number}"
    return generate_from_binary(
        render_document_pdf(document), xml, flavor="factur-x", level="en16931", check_xsd=False,
        lang=document.locale, pdf_metadata={
            "author": document.seller.name, "keywords": "Factur-X", "title": title,
            "subject": f"{title} — {document.seller.name} → {document.buyer.name}",
        },
    )


def facturx_xml(document: BillingDocument) -> bytes:
    """The document as Cross Industry Invoice XML, profile EN 16931."""
    root = _element("rsm:CrossIndustryInvoice")
    context = _child(root, "rsm:ExchangedDocumentContext")
    _child(_child(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", EN16931_GUIDELINE)

    header = _child(root, "rsm:ExchangedDocument")
    _child(header, "ram:ID", document.number)
    _child(header, "ram:TypeCode", CREDIT_NOTE_TYPE_CODE if document.is_credit_note else INVOICE_TYPE_CODE)
    _date(_child(header, "ram:IssueDateTime"), "udt:DateTimeString", document.issue_date)
    for subject, text in _notes(document):
        note = _child(header, "ram:IncludedNote")
        _child(note, "ram:Content", text)
        _child(note, "ram:SubjectCode", subject)

    transaction = _child(root, "rsm:SupplyChainTradeTransaction")
    for position, line in enumerate(document.lines, start=1):
        item = _child(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _child(_child(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(position))
        _child(_child(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
        agreement = _child(item, "ram:SpecifiedLineTradeAgreement")
        price = _child(agreement, "ram:NetPriceProductTradePrice")
        _child(price, "ram:ChargeAmount", _amount(document, line.unit_amount))
        _child(_child(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity", _decimal(line.quantity),
               unitCode=UNIT_CODE)
        settlement = _child(item, "ram:SpecifiedLineTradeSettlement")
        tax = _child(settlement, "ram:ApplicableTradeTax")
        _child(tax, "ram:TypeCode", "VAT")
        _child(tax, "ram:CategoryCode", _vat_category(line.tax_rate))
        _child(tax, "ram:RateApplicablePercent", _decimal(line.tax_rate))
        summation = _child(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _child(summation, "ram:LineTotalAmount", _amount(document, line.amount_net))

    agreement = _child(transaction, "ram:ApplicableHeaderTradeAgreement")
    _child(agreement, "ram:BuyerReference", document.buyer.reference)
    _seller(_child(agreement, "ram:SellerTradeParty"), document)
    _buyer(_child(agreement, "ram:BuyerTradeParty"), document)
    if document.po_number:
        _child(_child(agreement, "ram:BuyerOrderReferencedDocument"), "ram:IssuerAssignedID", document.po_number)
    _child(transaction, "ram:ApplicableHeaderTradeDelivery")

    settlement = _child(transaction, "ram:ApplicableHeaderTradeSettlement")
    _child(settlement, "ram:PaymentReference", document.invoice_number or document.number)
    _child(settlement, "ram:InvoiceCurrencyCode", document.currency)
    _payment_means(settlement, document)
    for subtotal in document.vat_summary:
        tax = _child(settlement, "ram:ApplicableTradeTax")
        _child(tax, "ram:CalculatedAmount", _amount(document, subtotal.amount_tax))
        _child(tax, "ram:TypeCode", "VAT")
        _child(tax, "ram:BasisAmount", _amount(document, subtotal.amount_net))
        _child(tax, "ram:CategoryCode", _vat_category(subtotal.rate))
        _child(tax, "ram:RateApplicablePercent", _decimal(subtotal.rate))
    if not document.is_credit_note:
        terms = _child(settlement, "ram:SpecifiedTradePaymentTerms")
        if document.seller.payment_terms:
            _child(terms, "ram:Description", document.seller.payment_terms)
        _date(_child(terms, "ram:DueDateDateTime"), "udt:DateTimeString", document.due_date)
    totals = _child(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _child(totals, "ram:LineTotalAmount", _amount(document, sum(line.amount_net for line in document.lines)))
    _child(totals, "ram:TaxBasisTotalAmount", _amount(document, document.amount_net))
    _child(totals, "ram:TaxTotalAmount", _amount(document, document.amount_tax), currencyID=document.currency)
    _child(totals, "ram:GrandTotalAmount", _amount(document, document.amount_total))
    if document.amount_paid:
        _child(totals, "ram:TotalPrepaidAmount", _amount(document, document.amount_paid))
    _child(totals, "ram:DuePayableAmount", _amount(document, document.amount_total - document.amount_paid))
    if document.is_credit_note:
        invoice = _child(settlement, "ram:InvoiceReferencedDocument")
        _child(invoice, "ram:IssuerAssignedID", document.invoice_number)
        _date(_child(invoice, "ram:FormattedIssueDateTime"), "qdt:DateTimeString", document.invoice_issue_date)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _notes(document: BillingDocument) -> list[tuple[str, str]]:
    """The mandatory mentions as notes, with their UNTDID 4451 subjects: PMD penalties, PMT the
    fixed indemnity, AAB discount terms; and a credit note's reason (ACB, additional information)."""
    gettext = document_translations(document.locale).gettext
    seller = document.seller
    rate = f"{seller.late_penalty_rate.normalize()} %"
    notes = [
        ("PMD", gettext("Late payment penalties: %(rate)s a year, due from the day after the due date without a "
                        "reminder.") % {"rate": rate}),
        ("PMT", gettext("Fixed indemnity for recovery costs in case of late payment: %(amount)s "
                        "(French Commercial Code, articles L441-10 and D441-5).")
         % {"amount": f"{to_decimal(RECOVERY_INDEMNITY_EUR_CENTS, 'EUR')} EUR"}),
        ("AAB", seller.early_payment_discount or gettext("No discount for early payment.")),
    ]
    if document.is_credit_note and document.reason:
        notes.append(("ACB", document.reason))
    return notes


def _seller(party, document: BillingDocument) -> None:
    seller = document.seller
    _child(party, "ram:Name", seller.name)
    if seller.registration_id:
        organization = _child(party, "ram:SpecifiedLegalOrganization")
        _child(organization, "ram:ID", seller.registration_id,
               schemeID=SIRET_SCHEME if seller.siret else SIREN_SCHEME)
    _address(party, seller.address, seller.postcode, seller.city, seller.country)
    if seller.email:
        _child(_child(party, "ram:URIUniversalCommunication"), "ram:URIID", seller.email, schemeID="EM")
    _child(_child(party, "ram:SpecifiedTaxRegistration"), "ram:ID", seller.vat_number, schemeID="VA")


def _buyer(party, document: BillingDocument) -> None:
    buyer = document.buyer
    _child(party, "ram:Name", buyer.name)
    if buyer.siren:
        _child(_child(party, "ram:SpecifiedLegalOrganization"), "ram:ID", buyer.siren, schemeID=SIREN_SCHEME)
    # A buyer's address is mandatory in EN 16931 (BG-8, its country at least): France when none is known.
    _address(party, buyer.address, buyer.postcode, buyer.city, buyer.country or "FR")
    if buyer.vat_number:
        _child(_child(party, "ram:SpecifiedTaxRegistration"), "ram:ID", buyer.vat_number, schemeID="VA")


def _address(party, line: str | None, postcode: str | None, city: str | None, country: str) -> None:
    address = _child(party, "ram:PostalTradeAddress")
    if postcode:
        _child(address, "ram:PostcodeCode", postcode)
    if line:
        _child(address, "ram:LineOne", line)
    if city:
        _child(address, "ram:CityName", city)
    _child(address, "ram:CountryID", country)


def _payment_means(settlement, document: BillingDocument) -> None:
    seller = document.seller
    if document.is_credit_note:
        return
    if seller.iban:
        means = _child(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _child(means, "ram:TypeCode", SEPA_TRANSFER)
        _child(_child(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID", seller.iban)
        if seller.bic:
            _child(_child(means, "ram:PayeeSpecifiedCreditorFinancialInstitution"), "ram:BICID", seller.bic)
    if document.pay_url:
        means = _child(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _child(means, "ram:TypeCode", CARD)
        _child(means, "ram:Information", document.pay_url)


def _vat_category(rate: Decimal) -> str:
    # UNCL 5305: S standard rate; Z zero rated (a 0 % line, which names no exemption reason).
    return "S" if rate > 0 else "Z"


def _amount(document: BillingDocument, minor_units: int) -> str:
    return f"{to_decimal(minor_units, document.currency):.{minor_unit_digits(document.currency)}f}"


def _decimal(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _date(parent, tag: str, value) -> None:
    _child(parent, tag, value.strftime("%Y%m%d"), format="102")


def _element(tag: str, **attributes):
    prefix, name = tag.split(":")
    return etree.Element(f"{{{NAMESPACES[prefix]}}}{name}", nsmap=NAMESPACES, **attributes)


def _child(parent, tag: str, text: str | None = None, **attributes):
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NAMESPACES[prefix]}}}{name}", **attributes)
    if text is not None:
        element.text = text
    return element
