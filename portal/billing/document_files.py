"""The files a buyer downloads or receives: an invoice or credit note as a plain PDF or as Factur-X."""

import enum
import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.billing.documents import BillingDocument, credit_note_document, invoice_document
from portal.billing.errors import BillingError
from portal.billing.supplier import SupplierIdentity
from portal.models import CreditNote, Invoice
from portal.page_cache import BoundedLru


class DocumentFormat(enum.StrEnum):
    PDF = "pdf"
    FACTURX = "facturx"


class VoidInvoiceNotBookable(BillingError):
    """A void invoice has no Factur-X: its data would let the buyer's software book it."""


@dataclass(frozen=True)
class DocumentFile:
    filename: str
    content: bytes
    # A digest of everything the file shows (see `document_version`): its ETag.
    version: str
    mimetype: str = "application/pdf"


def document_version(document: BillingDocument, file_format: DocumentFormat) -> str:
    """A digest of the whole document (both parties, every line and figure, the PAY NOW link) in `file_format`.

    It is the invoice's version as its PDF shows it: any change to what the file would show
    (a payment, a credit note, a renamed customer, a new link) is another document, so a file
    kept under its version is never stale.
    """
    return hashlib.sha256(f"{file_format}:{document!r}".encode()).hexdigest()[:32]


class RenderedDocuments:
    """The files of the last `capacity` documents drawn, by version: an unchanged invoice downloaded
    again is not drawn again. In this process only; at most `capacity` files are kept."""

    def __init__(self, capacity: int):
        self._files: BoundedLru[DocumentFile] = BoundedLru(capacity)

    def file(self, document: BillingDocument, file_format: DocumentFormat) -> DocumentFile:
        version = document_version(document, file_format)
        if (kept := self._files.get(version)) is not None:
            return kept
        # Two requests for one new document may both draw it: neither waits for the other.
        drawn = _file(document, file_format, version)
        self._files.set(version, drawn)
        return drawn


#: The downloads' files: about 60 KiB each at most (Factur-X), so a few MiB per process.
DOWNLOADED = RenderedDocuments(capacity=128)


def invoice_file(session: Session, invoice: Invoice, supplier: SupplierIdentity, *, file_format: DocumentFormat,
                 locale: str | None = None, pay_url: str | None = None,
                 kept: RenderedDocuments | None = None) -> DocumentFile:
    """The invoice as a file in `file_format`, in `locale` (the company's language by default); taken from
    `kept` when it holds this very document, else drawn (and kept there)."""
    if file_format == DocumentFormat.FACTURX and invoice.voided_at is not None:
        raise VoidInvoiceNotBookable(f"invoice {invoice.number} is void: it has a PDF but no Factur-X")
    document = invoice_document(session, invoice, supplier, locale=locale or invoice.company.locale, pay_url=pay_url)
    if kept is not None:
        return kept.file(document, file_format)
    return _file(document, file_format, document_version(document, file_format))


def credit_note_file(session: Session, credit_note: CreditNote, supplier: SupplierIdentity, *,
                     file_format: DocumentFormat, locale: str | None = None) -> DocumentFile:
    """The credit note as a file in `file_format`, in `locale` (the company's language by default)."""
    document = credit_note_document(session, credit_note, supplier,
                                    locale=locale or credit_note.invoice.company.locale)
    return _file(document, file_format, document_version(document, file_format))


def _file(document: BillingDocument, file_format: DocumentFormat, version: str) -> DocumentFile:
    # Imported when a document is first drawn: the PDF libraries (fpdf2, fontTools, pypdf, factur-x) are
    # about 50 MiB of a process that never draws one (`acquit import invoices`, say) would carry for nothing.
    from portal.billing.facturx import facturx_pdf
    from portal.billing.pdf import render_document_pdf

    safe_number = document.number.replace('"', "")
    if file_format == DocumentFormat.FACTURX:
        return DocumentFile(f"{safe_number}-facturx.pdf", facturx_pdf(document), version)
    return DocumentFile(f"{safe_number}.pdf", render_document_pdf(document), version)
