"""Many invoices as one ZIP file, written and sent a document at a time.

The archive is streamed: each invoice is drawn, compressed into the ZIP and handed on before
the next is loaded, so a year of invoices needs the memory of one invoice (plus a list of
ids and the ZIP's directory of names), not of the whole file.
"""

import zipfile
from collections.abc import Callable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.billing.document_files import DocumentFormat, invoice_file
from portal.billing.supplier import SupplierIdentity
from portal.models import Invoice

BATCH_SIZE = 50


def invoice_archive(session: Session, invoice_ids: list[int], supplier: SupplierIdentity, *,
                    file_format: DocumentFormat, pay_url_for: Callable[[Invoice], str] | None = None
                    ) -> Iterator[bytes]:
    """The invoices `invoice_ids` (already scoped to one company by the caller), in that order,
    as the chunks of a ZIP file of one document each in `file_format`.

    A void invoice goes in as its plain PDF even in a Factur-X archive: it must not be booked.
    """
    sink = _Chunks()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for start in range(0, len(invoice_ids), BATCH_SIZE):
            batch = invoice_ids[start:start + BATCH_SIZE]
            loaded = {
                invoice.id: invoice
                for invoice in session.scalars(
                    select(Invoice).where(Invoice.id.in_(batch))
                    .options(selectinload(Invoice.lines), selectinload(Invoice.company))
                )
            }
            for invoice_id in batch:
                invoice = loaded[invoice_id]
                file = invoice_file(
                    session, invoice, supplier,
                    file_format=DocumentFormat.PDF if invoice.voided_at else file_format,
                    pay_url=pay_url_for(invoice) if pay_url_for else None,
                )
                archive.writestr(zipfile.ZipInfo(file.filename, date_time=invoice.issue_date.timetuple()[:6]),
                                 file.content, compress_type=zipfile.ZIP_DEFLATED)
                yield sink.take()
            # Drawn invoices are not needed again: the session's identity map does not grow with the archive.
            for invoice in loaded.values():
                session.expunge(invoice)
    yield sink.take()


class _Chunks:
    """A write-only file for `zipfile`: it keeps what was written until `take()` hands it on.

    Having no `seek`, it makes `zipfile` write each entry's sizes after its data, as a
    streaming ZIP must.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        return len(data)

    # zipfile asks a writable file for these two; a list of chunks has nothing to flush or release.
    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
