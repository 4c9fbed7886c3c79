"""One place that turns errors into a friendly page, an htmx fragment or a JSON body."""

import logging

from flask import Flask, abort, jsonify, render_template, request
from markupsafe import escape
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.billing.errors import InvoiceNotFound
from portal.disputes.errors import DisputeConflict, DisputeError, DisputeNotFound, NotAllowed
from portal.extensions import db
from portal.i18n import dispute_refusal

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood. Check what you entered and try again."),
    401: _l("Please sign in."),
    403: _l("You are not allowed to do that."),
    404: _l("We could not find that page."),
    405: _l("That action is not available here."),
    413: _l("What you sent is too large."),
    414: _l("That address is too long. Shorten the search or the filters and try again."),
    429: _l("Too many attempts. Please wait a few minutes and try again."),
    500: _l("Something went wrong on our side. Nothing was changed; please try again."),
}


def abort_with(code: int):
    abort(code)


def dispute_status_code(error: DisputeError) -> int:
    """The HTTP status that answers a refusal of the disputes domain."""
    if isinstance(error, DisputeNotFound):
        return 404
    if isinstance(error, NotAllowed):
        return 403
    if isinstance(error, DisputeConflict):
        return 409
    return 400


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(code: int, message=None):
    message = str(message or MESSAGES.get(code, MESSAGES[400]))
    if wants_json():
        return jsonify(error={"code": code, "message": message}), code
    try:
        return render_template("errors/error.html", code=code, message=message), code
    except Exception:
        # The error page itself failed (say the database is down under the navigation bar):
        # answer in plain HTML rather than with a second, bare traceback.
        log.exception("Rendering the error page failed")
        return f"<!doctype html><title>{code}</title><h1>{code}</h1><p>{escape(message)}</p>", code


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        return error_response(error.code)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error):
        return error_response(400, _l("This form has expired. Reload the page and try again."))

    @app.errorhandler(InvoiceNotFound)
    def _invoice_not_found(_error):
        return error_response(404)

    @app.errorhandler(DisputeError)
    def _dispute_refused(error: DisputeError):
        return error_response(dispute_status_code(error), dispute_refusal(error))

    @app.errorhandler(Exception)
    def _unexpected_error(error: Exception):
        # Roll back first: nothing half-done may be committed by a later request.
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500)
