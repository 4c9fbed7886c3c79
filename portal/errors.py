"""One error vocabulary: every refusal has a stable code, and this table says its HTTP status and
its message in the reader's language. One place turns errors into a page, an htmx fragment or,
for the API and machines, `{"error": {"code", "message", "field"}}` in English.

Domain errors (portal/domain_errors.py) carry the code and the message's parameters; a `Money`
parameter is written in the page's locale ("1 956,35 €", "€1,956.35").
"""

import logging
from dataclasses import dataclass

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_babel import LazyString, force_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from portal.billing.money import Money
from portal.domain_errors import DomainError
from portal.extensions import db
from portal.i18n import SUPPORTED_LOCALES, money
from portal.payments.errors import FAILURE_REASONS, REFUSAL_REASONS
from portal.request_log import loggable_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorKind:
    status: int
    message: object  # a lazy string, translated when read; placeholders filled from the error's params


def _refusal_reason(code: str) -> LazyString:
    return LazyString(gettext, REFUSAL_REASONS[code])


ERRORS: dict[str, ErrorKind] = {
    # Any request
    "refused": ErrorKind(409, _l("That action is not available here.")),
    "bad_request": ErrorKind(400, _l("The request could not be understood. Check what you entered and try again.")),
    "unauthenticated": ErrorKind(401, _l("Please sign in.")),
    "not_allowed": ErrorKind(403, _l("You are not allowed to do that.")),
    "not_found": ErrorKind(404, _l("We could not find that page.")),
    "method_not_allowed": ErrorKind(405, _l("That action is not available here.")),
    "too_large": ErrorKind(413, _l("What you sent is too large.")),
    "uri_too_long": ErrorKind(414, _l("That address is too long. Shorten the search or the filters and try again.")),
    "too_many_requests": ErrorKind(429, _l("Too many attempts. Please wait a few minutes and try again.")),
    "server_error": ErrorKind(500, _l("Something went wrong on our side. Nothing was changed; please try again.")),
    # The database restarting, failing over or refusing a transaction for now: the request can be sent again as it is
    # (a payment's form again shows the payment it started, never a second one).
    "unavailable": ErrorKind(503, _l("We could not finish this just now: our database did not answer. "
                                     "Please try again in a moment.")),
    "form_expired": ErrorKind(400, _l("This form has expired. Reload the page and try again.")),
    # Billing
    "billing_error": ErrorKind(409, _l("That action is not available here.")),
    "invalid_amount": ErrorKind(400, _l("That is not an amount of money.")),
    "invalid_invoice": ErrorKind(422, _l("This invoice cannot be saved as given.")),
    "over_settlement": ErrorKind(409, _l("More would be paid and credited on this invoice than its total.")),
    "unknown_company": ErrorKind(422, _l("No customer has this reference.")),
    "invoice_void": ErrorKind(409, _l("This invoice is void.")),
    "invoice_disputed": ErrorKind(409, _l("This invoice has a dispute in progress.")),
    "invoice_has_payments": ErrorKind(409, _l("Payments were received on this invoice: its amounts cannot change.")),
    "invoice_company_mismatch": ErrorKind(409, _l("This invoice belongs to another customer.")),
    "invoice_lines_in_closed_dispute": ErrorKind(
        409, _l("These invoice lines are part of a closed dispute: they cannot change.")),
    "credit_note_exists": ErrorKind(409, _l("A credit note already has this number.")),
    # Payments
    "payment_error": ErrorKind(409, LazyString(gettext, FAILURE_REASONS["payment_error"])),
    "no_invoice_chosen": ErrorKind(400, _refusal_reason("no_invoice_chosen")),
    "part_payment_of_several": ErrorKind(400, _refusal_reason("part_payment_of_several")),
    "invoice_void_nothing_to_pay": ErrorKind(409, _refusal_reason("invoice_void_nothing_to_pay")),
    "invoice_already_paid": ErrorKind(409, _refusal_reason("invoice_already_paid")),
    "invoice_wholly_disputed": ErrorKind(409, _refusal_reason("invoice_wholly_disputed")),
    "mixed_currencies": ErrorKind(409, _refusal_reason("mixed_currencies")),
    "amount_not_positive": ErrorKind(400, _refusal_reason("amount_not_positive")),
    "amount_above_payable": ErrorKind(400, _refusal_reason("amount_above_payable")),
    "amount_above_undisputed": ErrorKind(400, _refusal_reason("amount_above_undisputed")),
    "amounts_changed": ErrorKind(409, _refusal_reason("amounts_changed")),
    "payment_in_progress": ErrorKind(409, _refusal_reason("payment_in_progress")),
    "no_card": ErrorKind(409, _refusal_reason("no_card")),
    "setup_incomplete": ErrorKind(400, _l("The card was not saved. Check its details and try again.")),
    "setup_mismatch": ErrorKind(409, _l("This card belongs to someone else.")),
    "resource_missing": ErrorKind(409, _l("The card processor no longer knows this card. Add it again.")),
    "outcome_unknown": ErrorKind(
        409, _l("The card processor did not answer in time. We are checking what happened: do not pay again yet.")),
    "never_reached": ErrorKind(409, _l("The payment never reached the card processor. Nothing was charged.")),
    "provider_unavailable": ErrorKind(
        503, _l("Our card processor does not answer. Nothing was charged: please try again in a few minutes.")),
    "payment_intent_unexpected_state": ErrorKind(409, _l("This payment has already ended.")),
    "invalid_webhook": ErrorKind(400, _l("The request could not be understood. Check what you entered and try again.")),
    "refund_not_allowed": ErrorKind(409, _l("This refund cannot be made.")),
    "refund_not_card": ErrorKind(409, _l("Only a card payment that went through can be refunded here.")),
    "refund_above_refundable": ErrorKind(409, _l("At most %(amount)s can still be refunded on this invoice.")),
    "refund_above_unallocated": ErrorKind(
        409, _l("At most %(amount)s of this payment's unallocated credit can still be refunded.")),
    "refund_failed": ErrorKind(409, _l("The card processor refused the refund.")),
    # Why a card was refused: the gateway folds the provider's codes into these (the words are
    # portal/payments/errors.py's, which e-mails read too).
    **{code: ErrorKind(402, LazyString(gettext, text)) for code, text in FAILURE_REASONS.items() if code != "payment_error"},
    # PAY NOW links
    "invalid_pay_link": ErrorKind(404, _l("This payment link is not valid.")),
    "expired_pay_link": ErrorKind(404, _l("This payment link has expired.")),
    "revoked_pay_link": ErrorKind(404, _l("This payment link no longer works.")),
    "pay_link_busy": ErrorKind(429, _l("Too many attempts with this link. Please try again in an hour.")),
    "pay_link_resting": ErrorKind(
        429, _l("This link is resting after several declined cards. Please try again in an hour, or contact us.")),
    # Disputes
    "dispute_error": ErrorKind(400, _l("That action is not available here.")),
    "invalid": ErrorKind(400, _l("Check what you entered and try again.")),
    "conflict": ErrorKind(409, _l("That action is not available here.")),
    "not_disputable": ErrorKind(409, _l("This invoice cannot be disputed.")),
    "nothing_due": ErrorKind(409, _l("Nothing is due on this invoice any more: there is nothing to dispute.")),
    "already_disputed": ErrorKind(409, _l("This invoice already has a dispute in progress.")),
    "closed": ErrorKind(409, _l("This dispute is closed.")),
    "unknown_reason": ErrorKind(400, _l("Choose a reason from the list.")),
    "empty": ErrorKind(400, _l("This cannot be left empty.")),
    "too_long": ErrorKind(400, _l("This is too long.")),
    "lines_and_amount": ErrorKind(400, _l("Choose invoice lines or enter an amount, not both.")),
    "unknown_line": ErrorKind(400, _l("Choose lines of this invoice.")),
    "amount_above_due": ErrorKind(400, _l("That is more than what is still due on the invoice.")),
    "credit_above_disputed": ErrorKind(400, _l("A credit note cannot exceed the disputed amount.")),
    "credit_note_number_taken": ErrorKind(400, _l("A credit note already has this number.")),
    "attachment_refused": ErrorKind(400, _l("This file cannot be attached.")),
    "attachment_too_large": ErrorKind(400, _l("A file is too large.")),
    "attachment_empty": ErrorKind(400, _l("A file is empty.")),
    "attachment_type": ErrorKind(400, _l("Only PDF, PNG and JPEG files can be attached.")),
    "too_many_files": ErrorKind(400, _l("Attach at most %(count)d files to one message.")),
    # Autopay
    "autopay_error": ErrorKind(409, _l("That action is not available here.")),
    "invalid_days": ErrorKind(400, _l("Choose between 0 and 30 days before the due date.")),
    "invalid_maximum": ErrorKind(400, _l("The maximum must be greater than zero.")),
    "mandate_changed": ErrorKind(
        409, _l("The terms have changed since the page was shown. Read them again and accept.")),
    "autopay_not_allowed": ErrorKind(403, _l("Only your company's admins and payers can change autopay.")),
    "nothing_to_charge": ErrorKind(409, _l("Nothing can be charged on this invoice now.")),
    "needs_second_clerk": ErrorKind(409, _l(
        "This charge is above your company's approval threshold: another clerk who may approve payments (not the "
        "one who turned autopay on) must approve it.")),
    # Payment approvals. A role the permission matrix refuses is "not_allowed" (403); what the role
    # may do but the company's rule or the payment's state refuses is a 409.
    "not_approver": ErrorKind(409, _l(
        "Only your company's admins (or its payers, if the approval rule allows it) approve payments.")),
    "not_preparer": ErrorKind(409, _l("Only the person who prepared a payment can withdraw it.")),
    "own_payment": ErrorKind(409, _l("You prepared this payment: another person must approve it.")),
    "decided": ErrorKind(409, _l("This payment is no longer waiting for approval.")),
    "invalid_threshold": ErrorKind(400, _l("The threshold must be greater than zero.")),
    "already_awaiting": ErrorKind(409, _l("A payment of one of these invoices already waits for approval.")),
    "no_approver": ErrorKind(409, _l(
        "This payment needs a second person's approval, and nobody else in your company may give it. Ask an admin "
        "to invite a colleague or change the approval rule.")),
}

# The code that answers each HTTP error werkzeug raises (abort(404), an unknown route...).
HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "not_allowed", 404: "not_found",
              405: "method_not_allowed", 413: "too_large", 414: "uri_too_long", 429: "too_many_requests",
              500: "server_error"}
#: Seconds a client is asked to wait before sending again a request the database could not take.
RETRY_AFTER_SECONDS = 5

# A code the table does not know (a new one someone forgot to add) still reads as a refusal.
_FALLBACK = ERRORS["refused"]


def kind_of(code: str | None) -> ErrorKind:
    return ERRORS.get(code or "", _FALLBACK)


def error_message(code: str | None, **params) -> str:
    """The message for `code` in the page's language, its amounts written in the page's locale."""
    written = {name: money(value.amount, value.currency) if isinstance(value, Money) else value
               for name, value in params.items()}
    text = str(kind_of(code).message)
    return text % written if written else text


def refusal_message(error: DomainError) -> str:
    """What a domain error says to the person refused, in the page's language."""
    return error_message(error.code, **error.params)


def refusal_status(error: DomainError) -> int:
    return kind_of(error.code).status


def failure_message(code: str | None) -> str:
    """Why a payment failed (its `failure_code`), in the page's language; the provider's own words never."""
    return error_message(code if code in ERRORS else "payment_error")


def api_error(code: str, message: str | None = None, field: str | None = None, status: int | None = None):
    """The API's answer: `{"error": {"code", "message", "field"}}`, the message in English for machines and logs."""
    if message is None:
        with force_locale("en"):
            message = error_message(code)
    return jsonify(error={"code": code, "message": message, "field": field}), status or kind_of(code).status


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message=None, *, code: str | None = None, field: str | None = None,
                   english_message: str | None = None):
    """The answer to a refusal: JSON (English) for machines, else the error page in the reader's language.
    `code` defaults to the one of the HTTP status (404: "not_found")."""
    code = code or HTTP_CODES.get(status, "bad_request")
    if wants_json():
        return api_error(code, english_message, field, status)
    message = str(message or error_message(code))
    try:
        return render_template("errors/error.html", code=status, message=message), status
    except Exception as failure:
        # The error page itself failed (say the database is down under the navigation bar):
        # answer in plain HTML rather than with a second, bare traceback.
        if database_unavailable(failure):
            log.warning("Error page in plain HTML: the database does not answer (%s)", type(failure).__name__)
        else:
            log.exception("Rendering the error page failed")
        return f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>", status


def database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` is the database not answering or not taking the transaction now (a restart, a
    failover, a dropped connection, a lock or serialization conflict) rather than a fault in our code."""
    return isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated)


def unavailable_response():
    """503, "try again in a moment", for a request the database could not take."""
    try:
        response = make_response(*error_response(503, code="unavailable"))
    except DBAPIError:
        # The page's language comes from the signed-in person's account, in the database that does not
        # answer: it is the browser's, then.
        with force_locale(request.accept_languages.best_match(SUPPORTED_LOCALES)
                          or current_app.config["BABEL_DEFAULT_LOCALE"]):
            response = make_response(*error_response(503, code="unavailable"))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def register_error_handlers(app: Flask) -> None:
    app.jinja_env.filters["failure_reason"] = failure_message

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        # An after-request step (the request's commit) failing reaches here as a 500 wrapping it.
        if database_unavailable(getattr(error, "original_exception", None)):
            return _database_error(error.original_exception)
        return error_response(error.code)

    @app.errorhandler(CSRFError)
    def _csrf_error(_error):
        return error_response(400, code="form_expired")

    @app.errorhandler(DomainError)
    def _refused(error: DomainError):
        db.session.rollback()
        with force_locale("en"):
            english = refusal_message(error)
        return error_response(refusal_status(error), refusal_message(error), code=error.code, field=error.field,
                              english_message=english)

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        try:
            db.session.rollback()
        except DBAPIError:
            log.warning("Rolling back failed too: the connection is gone, and its transaction with it")
        if not database_unavailable(error):
            log.exception("Unhandled error on %s %s", request.method, request.path)
            return error_response(500)
        # An outage, not a fault in the code: one line, no traceback per request while it lasts.
        log.warning("Database unavailable on %s %s: %s", request.method, request.path,
                    str(error.orig or error).splitlines()[0])
        return unavailable_response()

    @app.errorhandler(Exception)
    def _unexpected_error(error: Exception):
        # Roll back first: nothing half-done may be committed by a later request.
        db.session.rollback()
        # The path as the request log writes it: a PAY NOW or reset link's token is a credential.
        log.exception("Unhandled error on %s %s", request.method, loggable_path(app.url_map, request.environ))
        return error_response(500)
