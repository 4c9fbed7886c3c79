"""Streaming a CSV export to the browser as it is written."""

from collections.abc import Iterator

from flask import Response, stream_with_context


def csv_download(chunks: Iterator[str], filename: str) -> Response:
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
