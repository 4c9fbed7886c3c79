"""The invoice list's documents: each invoice and credit note as PDF or Factur-X, and a ZIP of a filtered selection."""

from flask import Response, abort, request, stream_with_context
from flask_babel import gettext as _

from portal import clock
from portal.accounts.permissions import Action
from portal.billing import history
from portal.billing.bulk_download import invoice_archive
from portal.billing.company_fields import company_fields
from portal.billing.document_files import (
    DOWNLOADED,
    DocumentFormat,
    VoidInvoiceNotBookable,
    credit_note_file,
    invoice_file,
)
from portal.billing.errors import InvoiceNotFound
from portal.blueprints.app_services import services
from portal.blueprints.downloads import document_download
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.invoices import blueprint
from portal.blueprints.invoices.forms import HistoryFilterForm
from portal.errors import error_response
from portal.extensions import db
from portal.models import CreditNote


@blueprint.route("/<int:invoice_id>/pdf")
@permission_required(Action.DOWNLOAD)
def pdf(invoice_id: int):
    return _invoice_download(invoice_id, DocumentFormat.PDF)


@blueprint.route("/<int:invoice_id>/facturx")
@permission_required(Action.DOWNLOAD)
def facturx(invoice_id: int):
    return _invoice_download(invoice_id, DocumentFormat.FACTURX)


def _invoice_download(invoice_id: int, file_format: DocumentFormat) -> Response:
    invoice = history.find_customer_invoice(db.session, current_company().id, invoice_id)
    try:
        file = invoice_file(db.session, invoice, services().supplier, file_format=file_format,
                            pay_url=services().pay_links.document_link_for(invoice).url, kept=DOWNLOADED)
    except VoidInvoiceNotBookable:
        return error_response(409, _("This invoice is void: download its PDF; it has no Factur-X to book."))
    return document_download(file)


@blueprint.route("/<int:invoice_id>/credit-notes/<int:credit_note_id>/<any(pdf, facturx):file_format>")
@permission_required(Action.DOWNLOAD)
def credit_note(invoice_id: int, credit_note_id: int, file_format: str):
    invoice = history.find_customer_invoice(db.session, current_company().id, invoice_id)
    note = db.session.get(CreditNote, credit_note_id)
    if note is None or note.invoice_id != invoice.id:
        raise InvoiceNotFound(invoice_id)
    return document_download(credit_note_file(db.session, note, services().supplier, file_format=DocumentFormat(file_format)))


@blueprint.route("/download.zip")
@permission_required(Action.DOWNLOAD)
def download_zip():
    company = current_company()
    form = HistoryFilterForm(request.args, currency=company.currency,
                             company_fields=company_fields(db.session, company.id))
    try:
        file_format = DocumentFormat(request.args.get("format", DocumentFormat.PDF.value))
    except ValueError:
        abort(400)
    if not form.validate():
        abort(400)
    ids = history.matching_invoice_ids(db.session, company.id, form.history_query(), today=clock.today(),
                                       currency=company.currency)
    links = services().pay_links
    chunks = invoice_archive(db.session, ids, services().supplier, file_format=file_format,
                             pay_url_for=lambda invoice: links.link_for(invoice).url)
    suffix = "-facturx" if file_format == DocumentFormat.FACTURX else ""
    return Response(
        stream_with_context(chunks), mimetype="application/zip",
        headers={"Content-Disposition":
                 f'attachment; filename="invoices-{company.external_ref}-{clock.today().isoformat()}{suffix}.zip"',
                 "Cache-Control": "no-store"},
    )

