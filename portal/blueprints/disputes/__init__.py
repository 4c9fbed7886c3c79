"""Disputes, the customer's side: raise one on an invoice, follow its thread, withdraw it.

The collections team's side (queue, replies, resolutions) lives in
`portal/blueprints/collections/dispute_views.py`; both pages share `templates/disputes/_thread.html`.
"""

from flask import Blueprint, abort, current_app, send_file
from flask.typing import ResponseReturnValue

from portal.blueprints.app_services import services
from portal.disputes import service
from portal.disputes.attachments import MAX_FILES_PER_MESSAGE
from portal.extensions import db
from portal.models import Dispute, DisputeAttachment

blueprint = Blueprint("disputes", __name__)


def thread_context(dispute: Dispute, *, staff: bool) -> dict:
    """What `disputes/_thread.html` needs, for the customer's page or the collections team's."""
    messages = service.thread(db.session, dispute)
    return {
        "dispute": dispute,
        "messages": messages,
        "authors": service.message_authors(db.session, messages),
        "is_active": dispute.is_active,
        "staff_view": staff,
        "thread_url_endpoint": "collections.dispute" if staff else "disputes.show",
        "attachment_endpoint": "collections.dispute_attachment" if staff else "disputes.attachment",
    }


def upload_limits() -> dict:
    """The attachment limits, for the hint beside a file field."""
    return {"max_megabytes": current_app.config["ACQUIT_ATTACHMENT_MAX_BYTES"] // (1024 * 1024),
            "max_files": MAX_FILES_PER_MESSAGE}


def form_errors_text(form) -> str:
    """A form's errors as one line, for an htmx answer that swaps the thread rather than the form."""
    return "; ".join(f"{form[name].label.text}: {' '.join(errors)}" for name, errors in form.errors.items())


def send_attachment(attachment: DisputeAttachment) -> ResponseReturnValue:
    """The file as a download, typed as it was checked when stored, never shown inline."""
    path = services().disputes.store.path(attachment.storage_key)
    if not path.is_file():
        current_app.logger.error("Attachment %s has no file at %s", attachment.id, path)
        abort(404)
    response = send_file(path, mimetype=attachment.content_type, as_attachment=True,
                         download_name=attachment.filename, conditional=False, etag=False, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


from portal.blueprints.disputes import views  # noqa: E402,F401  (routes register on import)
