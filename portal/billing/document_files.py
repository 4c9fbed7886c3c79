"""The files a buyer downloads or receives: an invoice or credit note as a plain PDF or as Factur-X."""

import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.billing.documents import BillingDocument, credit_note_document, invoice_document
from portal.billing.errors import BillingError
from portal.billing.facturx import facturx_pdf
from portal.billing.pdf import render_document_pdf
from portal.billing.supplier import SupplierIdentity
from portal.models import CreditNote, Invoice


class DocumentFormat(enum.StrEnum):
    PDF = "pdf"
    FACTURX = "facturx"


class VoidInvoiceNotBookable(BillingError):
    """A void invoice has no Factur-X: its data would let the buyer's software book it."""


@dataclass(frozen=True)
class DocumentFile:
    filename: str
    content: bytes
    mimetype: str = "application/pdf"


def invoice_file(session: Session, invoice: Invoice, supplier: SupplierIdentity, *, file_format: DocumentFormat,
                 locale: str | None = None, pay_url: str | None = None) -> DocumentFile:
    """The invoice as a file in `file_format`, in `locale` (the company's language by default)."""
    if file_format == DocumentFormat.FACTURX and invoice.voided_at is not None:
        raise VoidInvoiceNotBookable(f"invoice {invoice.number} is void: it has a PDF but no Factur-X")
    document = invoice_document(session, invoice, supplier, locale=locale or invoice.company.locale, pay_url=pay_url)
    return _file(document, file_format)


def credit_note_file(session: Session, credit_note: CreditNote, supplier: SupplierIdentity, *,
                     file_format: DocumentFormat, locale: str | None = None) -> DocumentFile:
    """The credit note as a file in `file_format`, in `locale` (the company's language by default)."""
    document = credit_note_document(session, credit_note, supplier,
                                    locale=locale or credit_note.invoice.company.locale)
    return _file(document, file_format)


def _file(document: BillingDocument, file_format: DocumentFormat) -> DocumentFile:
    safe_number = document.number.replace('"', "")
    if file_format == DocumentFormat.FACTURX:
        return DocumentFile(f"{safe_number}-facturx.pdf", facturx_pdf(document))
    return DocumentFile(f"{safe_number}.pdf", render_document_pdf(document))
