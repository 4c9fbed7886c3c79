"""Files to download: a CSV export streamed to the browser as it is written, and documents."""

from collections.abc import Iterator

from flask import Response, request, stream_with_context

from portal.billing.document_files import DocumentFile


def csv_download(chunks: Iterator[str], filename: str) -> Response:
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def document_download(file: DocumentFile) -> Response:
    """An invoice or credit note document as an attachment named after it, tagged with its version:
    a browser that holds this very file is answered 304 Not Modified."""
    response = Response(file.content, mimetype=file.mimetype,
                        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'})
    # The browser may keep it (it is the signed-in reader's own) but asks each time whether it changed.
    response.cache_control.private = True
    response.cache_control.no_cache = True
    response.set_etag(file.version)
    return response.make_conditional(request)
