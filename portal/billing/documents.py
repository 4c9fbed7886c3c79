"""Invoices and credit notes as the documents a buyer books: one set of figures for the PDF and the Factur-X data.

`invoice_document` and `credit_note_document` gather everything a legally complete document
shows (both parties, lines, the VAT summary per rate, totals, terms); `portal.billing.pdf`
draws it and `portal.billing.facturx` writes it as EN 16931 XML, so the two never disagree.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.billing.money import allocate_proportionally
from portal.billing.supplier import SupplierIdentity
from portal.models import Company, CreditNote, CustomFieldLabel, Invoice

TRANSLATIONS = Path(__file__).parent.parent / "translations"


class DocumentKind:
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


@dataclass(frozen=True)
class Buyer:
    name: str
    reference: str
    address: str | None
    postcode: str | None
    city: str | None
    country: str | None
    vat_number: str | None
    siren: str | None

    @classmethod
    def of(cls, company: Company) -> "Buyer":
        return cls(name=company.name, reference=company.external_ref, address=company.billing_address,
                   postcode=company.billing_postcode, city=company.billing_city, country=company.billing_country,
                   vat_number=company.vat_number, siren=company.siren)


@dataclass(frozen=True)
class DocumentLine:
    description: str
    quantity: Decimal
    unit_amount: int
    tax_rate: Decimal
    amount_net: int
    amount_tax: int


@dataclass(frozen=True)
class VatSubtotal:
    """One line of the VAT summary: the net amount taxed at `rate`, and that tax."""

    rate: Decimal
    amount_net: int
    amount_tax: int


@dataclass(frozen=True)
class BillingDocument:
    kind: str
    number: str
    issue_date: date
    currency: str
    locale: str
    seller: SupplierIdentity
    buyer: Buyer
    lines: list[DocumentLine]
    vat_summary: list[VatSubtotal]
    amount_net: int
    amount_tax: int
    amount_total: int
    # Invoices: what payments have settled (the Factur-X "prepaid amount"), what credit notes
    # took off, and what is left to pay. A credit note settles nothing: all three stay 0.
    amount_paid: int = 0
    amount_credited: int = 0
    amount_due: int = 0
    due_date: date | None = None
    po_number: str | None = None
    is_void: bool = False
    # The supplier's custom fields as (label in the buyer's language, value).
    custom_fields: tuple[tuple[str, str], ...] = ()
    # A credit note's invoice, and why it was granted.
    invoice_number: str | None = None
    invoice_issue_date: date | None = None
    reason: str = ""
    pay_url: str | None = None

    @property
    def is_credit_note(self) -> bool:
        return self.kind == DocumentKind.CREDIT_NOTE


def invoice_document(
    session: Session, invoice: Invoice, supplier: SupplierIdentity, *, locale: str, pay_url: str | None = None
) -> BillingDocument:
    """The invoice as its document in `locale`, with a PAY NOW link when one is given."""
    lines = [
        DocumentLine(description=line.description, quantity=line.quantity, unit_amount=line.unit_amount,
                     tax_rate=line.tax_rate, amount_net=line.amount_net, amount_tax=line.amount_tax)
        for line in invoice.lines
    ]
    is_void = invoice.voided_at is not None
    return BillingDocument(
        kind=DocumentKind.INVOICE, number=invoice.number, issue_date=invoice.issue_date, currency=invoice.currency,
        locale=locale, seller=supplier, buyer=Buyer.of(invoice.company), lines=lines,
        vat_summary=vat_summary(lines), amount_net=invoice.amount_net, amount_tax=invoice.amount_tax,
        amount_total=invoice.amount_total, amount_paid=invoice.amount_paid, amount_credited=invoice.amount_credited,
        amount_due=0 if is_void else invoice.amount_due, due_date=invoice.due_date, po_number=invoice.po_number,
        is_void=is_void, custom_fields=labelled_custom_fields(session, invoice.custom_fields, locale),
        pay_url=None if is_void or invoice.amount_due <= 0 else pay_url,
    )


def credit_note_document(
    session: Session, credit_note: CreditNote, supplier: SupplierIdentity, *, locale: str
) -> BillingDocument:
    """The credit note ("Avoir") as its document in `locale`, referencing its invoice."""
    invoice = credit_note.invoice
    gettext = document_translations(locale).gettext
    description = credit_note.reason or gettext("Credit on invoice %(number)s") % {"number": invoice.number}
    lines = credit_note_lines(invoice, credit_note.amount, description)
    return BillingDocument(
        kind=DocumentKind.CREDIT_NOTE, number=credit_note.number, issue_date=credit_note.issue_date,
        currency=credit_note.currency, locale=locale, seller=supplier, buyer=Buyer.of(invoice.company), lines=lines,
        vat_summary=vat_summary(lines), amount_net=sum(line.amount_net for line in lines),
        amount_tax=sum(line.amount_tax for line in lines), amount_total=credit_note.amount,
        po_number=invoice.po_number, custom_fields=labelled_custom_fields(session, invoice.custom_fields, locale),
        invoice_number=invoice.number, invoice_issue_date=invoice.issue_date, reason=credit_note.reason,
    )


def credit_note_lines(invoice: Invoice, amount: int, description: str) -> list[DocumentLine]:
    """A credit of `amount` (tax included) against `invoice`, as one line per VAT rate of the invoice.

    A credit note records only the amount credited; the tax it takes back follows the
    invoice's own rates, so the amount is shared among them in proportion to each rate's
    total (`allocate_proportionally`), and each share splits into net and tax at its rate,
    rounded half up like an invoice line. The lines sum to `amount` exactly.
    """
    rates = vat_summary([
        DocumentLine("", Decimal(1), line.amount_net, line.tax_rate, line.amount_net, line.amount_tax)
        for line in invoice.lines
    ]) or [VatSubtotal(rate=Decimal(0), amount_net=invoice.amount_total, amount_tax=0)]
    shares = allocate_proportionally(amount, [rate.amount_net + rate.amount_tax for rate in rates])
    lines = []
    for rate, gross in zip(rates, shares):
        if gross == 0:
            continue
        net = int((Decimal(gross) * 100 / (100 + rate.rate)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        lines.append(DocumentLine(description=description, quantity=Decimal(1), unit_amount=net, tax_rate=rate.rate,
                                  amount_net=net, amount_tax=gross - net))
    return lines


def vat_summary(lines: list[DocumentLine]) -> list[VatSubtotal]:
    """Net and tax per rate, highest rate first: the sums of the lines' own rounded figures."""
    per_rate: dict[Decimal, tuple[int, int]] = {}
    for line in lines:
        net, tax = per_rate.get(line.tax_rate.normalize(), (0, 0))
        per_rate[line.tax_rate.normalize()] = (net + line.amount_net, tax + line.amount_tax)
    return [VatSubtotal(rate=rate, amount_net=net, amount_tax=tax)
            for rate, (net, tax) in sorted(per_rate.items(), reverse=True)]


def labelled_custom_fields(session: Session, fields: Mapping, locale: str) -> tuple[tuple[str, str], ...]:
    """The invoice's custom fields under the labels the supplier gave them (in `locale`, else in
    another language, else the field's own key), in the order of their labels."""
    labels = field_labels(session, list(fields), locale)
    return tuple(sorted(((labels.get(key, key), str(value)) for key, value in fields.items()),
                        key=lambda item: item[0].lower()))


def field_labels(session: Session, keys: list[str], locale: str) -> dict[str, str]:
    """key -> label for `keys`, preferring the label in `locale`."""
    if not keys:
        return {}
    rows = session.scalars(select(CustomFieldLabel).where(CustomFieldLabel.field_key.in_(keys))).all()
    chosen: dict[str, str] = {}
    for row in sorted(rows, key=lambda row: row.locale == locale):
        chosen[row.field_key] = row.label
    return chosen


@cache
def document_translations(locale: str) -> NullTranslations:
    """The portal's catalogue in `locale`, for documents drawn outside any request."""
    return Translations.load(str(TRANSLATIONS), [locale])
