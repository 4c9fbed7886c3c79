"""Files to download: a CSV export streamed to the browser as it is written, and documents."""

from collections.abc import Iterator

from flask import Response, stream_with_context

from portal.billing.document_files import DocumentFile


def csv_download(chunks: Iterator[str], filename: str) -> Response:
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def document_download(file: DocumentFile) -> Response:
    """An invoice or credit note document as an attachment named after it."""
    return Response(file.content, mimetype=file.mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{file.filename}"'})
