"""Request bodies: small everywhere (MAX_CONTENT_LENGTH), large only on the views that take files."""

from flask import current_app, request


def accepts_uploads(view):
    """Mark `view` (right under its route) as taking file uploads: its requests may be as
    large as the attachment limits allow, ACQUIT_UPLOAD_REQUEST_MAX_BYTES."""
    view.accepts_uploads = True
    return view


def allow_uploads_where_accepted() -> None:
    """Raise the body limit for the request of a view that takes uploads.

    A before_request hook, registered ahead of CSRF protection: that reads the form, and the
    body limit must be the right one before anything parses it.
    """
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "accepts_uploads", False):
        request.max_content_length = current_app.config["ACQUIT_UPLOAD_REQUEST_MAX_BYTES"]
