import base64
import binascii
import json
import re
from collections import Counter
from datetime import date, datetime
from decimal import Decimal

from flask import current_app, jsonify
from flask import request as http_request

from portal import clock
from portal.accounts.invitations import InvitationConflict, invite_clerk
from portal.billing import api_queries
from portal.billing.credit_notes import CreditNoteData, record_credit_note
from portal.billing.custom_fields import all_field_labels, set_field_labels
from portal.billing.errors import BillingError, InvalidInvoice, InvoiceConflict, InvoiceNotFound, UnknownCompany
from portal.billing.ingest import MAX_BATCH, DuplicateNumbers, ingest_invoices
from portal.billing.invoices import LineInput, void_invoice
from portal.billing.new_invoice_mail import NewInvoice, queue_new_invoice_emails
from portal.billing.status import InvoiceStatus
from portal.billing.sync import CompanyData, InvoiceData, Outcome, upsert_company, upsert_invoice
from portal.blueprints.api import ApiError, QueryParameter, current_actor, operation, schemas
from portal.blueprints.api.openapi import openapi_document
from portal.blueprints.api.representations import company_json, invoice_json, payment_json, user_json
from portal.blueprints.app_services import services
from portal.disputes import service as disputes
from portal.extensions import db
from portal.models import Role

ERRORS = {
    400: ("malformed request", schemas.ERROR),
    401: ("missing, wrong or revoked API key", schemas.ERROR),
    404: ("no such resource", schemas.ERROR),
    409: ("refused by the resource's state", schemas.ERROR),
    422: ("a field is not valid", schemas.ERROR),
}
MAX_PAGE = 200
# A batch of MAX_BATCH invoices of a few lines each is well under this; the rest of the API keeps
# the portal's small body limit (MAX_CONTENT_LENGTH).
BATCH_MAX_BYTES = 8 * 2**20
LIMIT = QueryParameter("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50})
CURSOR = QueryParameter("cursor", {"type": "string", "maxLength": 200}, "next_cursor of the previous page")


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


@operation("/openapi.json", "GET", summary="This API's OpenAPI 3.1 document", public=True,
           responses={200: ("the document", {"type": "object"})})
def openapi():
    return jsonify(openapi_document())


@operation("/companies/<ref>", "PUT", summary="Create or update a customer company (idempotent)",
           request_schema=schemas.COMPANY_REQUEST, path={"ref": schemas.EXTERNAL_REF},
           responses={201: ("created", schemas.COMPANY), 200: ("updated or unchanged", schemas.COMPANY),
                      **_errors(400, 401, 422)})
def put_company(body: dict, ref: str):
    company, outcome = _domain(
        upsert_company, db.session, current_actor(), ref,
        CompanyData(name=body["name"], billing_emails=body.get("billing_emails", []),
                    locale=body.get("locale", "fr"), currency=body.get("currency", "EUR"),
                    region=body.get("region"), **{name: body.get(name) for name in schemas.COMPANY_IDENTITY}),
    )
    return _answer(company_json(company, outcome), 201 if outcome == Outcome.CREATED else 200)


@operation("/custom-fields/<key>", "PUT", summary="Name a custom field on invoices, per language (idempotent)",
           request_schema=schemas.CUSTOM_FIELD_LABEL_REQUEST, path={"key": schemas.FIELD_KEY},
           responses={201: ("labelled", schemas.CUSTOM_FIELD_LABEL),
                      200: ("relabelled or unchanged", schemas.CUSTOM_FIELD_LABEL), **_errors(400, 401, 422)})
def put_custom_field(body: dict, key: str):
    labels, outcome = set_field_labels(db.session, current_actor(), key, body["labels"])
    return _answer({"key": key, "labels": labels, "outcome": outcome}, 201 if outcome == Outcome.CREATED else 200)


@operation("/custom-fields", "GET", summary="Every labelled custom field",
           responses={200: ("the labels", {"type": "object", "required": ["data"], "properties": {
               "data": {"type": "array", "items": schemas.CUSTOM_FIELD_LABEL}}}), **_errors(401)})
def list_custom_fields():
    return _answer({"data": [{"key": key, "labels": labels} for key, labels in all_field_labels(db.session).items()]})


INVOICE_CHANGE_REFUSED = (
    "refused by the invoice's state, the invoice left unchanged; `error.code` says why: "
    "`invoice_void` (a void invoice cannot change); "
    "`invoice_company_mismatch` (the number belongs to another company's invoice); "
    "`invoice_has_payments` (lines and currency are fixed once paid or credited: issue a credit note); "
    "`invoice_disputed` (lines and currency are fixed while a dispute is in progress: resolve it first); "
    "`invoice_lines_in_closed_dispute` (a closed dispute named the lines: issue a credit note or a new invoice); "
    "`payment_in_progress` (a card payment of the invoice is in flight: retry once it has finished). "
    "Terms alone (PO number, dates, custom fields) may change in every state but void."
)


@operation("/invoices/<number>", "PUT", summary="Create or update an invoice (idempotent)",
           request_schema=schemas.INVOICE_REQUEST, path={"number": schemas.INVOICE_NUMBER},
           responses={201: ("created", schemas.INVOICE), 200: ("updated or unchanged", schemas.INVOICE),
                      **_errors(400, 401, 422), 409: (INVOICE_CHANGE_REFUSED, schemas.ERROR)})
def put_invoice(body: dict, number: str):
    invoice, outcome = _domain(upsert_invoice, db.session, current_actor(), number, _invoice_data(body))
    created = outcome == Outcome.CREATED
    if created:
        queue_new_invoice_emails(db.session, current_actor(), [
            NewInvoice(id=invoice.id, company_id=invoice.company_id, locale=invoice.company.locale)
        ], send_after_commit=True)
    return _answer(invoice_json(db.session, invoice, clock.today(), outcome=outcome, just_created=created),
                   201 if created else 200)


BATCH_DESCRIPTION = (
    "one result per invoice sent, in the same order: its `outcome`, or the `error` that refused it "
    "(`error.field` names the item, e.g. `invoices[3].due_date`). Each invoice is decided alone, by the "
    "rules of `PUT /api/v1/invoices/{number}` (the same outcomes and error codes): the refused ones are "
    "left unchanged and every other one is written. Per-item results rather than all-or-nothing, so "
    "that an ERP's nightly batch is not held up by one invoice its customer has disputed or paid: it "
    "sends the corrected items again (sending an unchanged item again is harmless). New invoices' "
    "e-mails are queued and sent by the portal's mail worker shortly after."
)


@operation("/invoices:batch", "POST", max_body_bytes=BATCH_MAX_BYTES,
           summary=f"Create or update up to {MAX_BATCH} invoices at once (idempotent, one result per invoice)",
           request_schema=schemas.INVOICE_BATCH_REQUEST,
           responses={200: (BATCH_DESCRIPTION, schemas.INVOICE_BATCH_RESULTS),
                      **_errors(400, 401), 413: (f"the body exceeds {BATCH_MAX_BYTES // 2**20} MiB: send fewer "
                                                   "invoices per batch", schemas.ERROR),
                      422: (f"the body is not valid (more than {MAX_BATCH} invoices, a number sent twice, a "
                            "field not as documented): nothing was written; `error.field` names the item and "
                            "field, e.g. `invoices[3].lines[0].quantity`", schemas.ERROR)})
def post_invoice_batch(body: dict):
    items = [(item["number"], _invoice_data(item)) for item in body["invoices"]]
    try:
        results = ingest_invoices(db.session, current_actor(), items)
    except DuplicateNumbers as duplicate:
        raise ApiError(422, "duplicate_number", str(duplicate), field=f"invoices[{duplicate.index}].number") from None
    answers = []
    for index, result in enumerate(results):
        answer = {"index": index, "number": result.number}
        if result.error is None:
            answer["outcome"] = result.outcome
        else:
            refusal = _api_error_of(result.error)
            field = f"invoices[{index}].{refusal.field}" if refusal.field else f"invoices[{index}]"
            answer["error"] = {"code": refusal.code, "message": refusal.message, "field": field}
        answers.append(answer)
    counts = Counter(answer.get("outcome", "refused") for answer in answers)
    return _answer({"results": answers,
                    "counts": {name: counts[name] for name in ("created", "updated", "unchanged", "refused")}})


def _invoice_data(body: dict) -> InvoiceData:
    return InvoiceData(
        company_ref=body["company_ref"],
        po_number=body.get("po_number"),
        issue_date=date.fromisoformat(body["issue_date"]),
        due_date=date.fromisoformat(body["due_date"]),
        currency=body["currency"],
        lines=[
            LineInput(description=line["description"], quantity=Decimal(str(line["quantity"])),
                      unit_amount=int(line["unit_amount"]), tax_rate=Decimal(line.get("tax_rate", "0")))
            for line in body["lines"]
        ],
        custom_fields=body.get("custom_fields", {}),
    )


@operation("/invoices/<number>", "GET", summary="One invoice, with what is due and what settled it",
           responses={200: ("the invoice", schemas.INVOICE), **_errors(401, 404)})
def get_invoice(number: str):
    invoice = _domain(api_queries.invoice_by_number, db.session, number)
    return _answer(invoice_json(db.session, invoice, clock.today()))


PAY_LINK = {
    "type": "object",
    "required": ["url", "expires_at"],
    "properties": {"url": {"type": "string", "format": "uri"}, "expires_at": schemas.DATETIME},
}


@operation("/invoices/<number>/pay-link", "POST", summary="A fresh PAY NOW link for the ERP's own e-mails",
           responses={200: ("the link", PAY_LINK), **_errors(401, 404, 409)})
def post_pay_link(number: str):
    invoice = _domain(api_queries.invoice_by_number, db.session, number)
    if invoice.voided_at is not None:
        raise ApiError(409, "invoice_void", "a void invoice cannot be paid")
    link = services().pay_links.link_for(invoice)
    return _answer({"url": link.url, "expires_at": link.expires_at.isoformat()})


@operation("/invoices/<number>/void", "POST", summary="Void an invoice (refused once it has payments)",
           request_schema=schemas.VOID_REQUEST,
           responses={200: ("the void invoice", schemas.INVOICE), **_errors(400, 401, 404, 409, 422)})
def post_void(body: dict, number: str):
    invoice = _domain(api_queries.invoice_by_number, db.session, number)
    _domain(void_invoice, db.session, current_actor(), invoice, body.get("reason", ""))
    disputes.close_for_voided_invoice(db.session, services().disputes, current_actor(), invoice)
    return _answer(invoice_json(db.session, invoice, clock.today()))


@operation("/credit-notes", "POST", summary="Credit an amount against an invoice (idempotent on number)",
           request_schema=schemas.CREDIT_NOTE_REQUEST,
           responses={201: ("created", schemas.CREDIT_NOTE), 200: ("already recorded, unchanged", schemas.CREDIT_NOTE),
                      **_errors(400, 401, 404, 409, 422)})
def post_credit_note(body: dict):
    data = CreditNoteData(
        number=body["number"], invoice_number=body["invoice_number"], amount=int(body["amount"]),
        issue_date=date.fromisoformat(body["issue_date"]) if body.get("issue_date") else clock.today(),
        reason=body.get("reason", ""),
    )
    credit_note, outcome = _domain(record_credit_note, db.session, current_actor(), data)
    payload = {
        "number": credit_note.number, "invoice_number": credit_note.invoice.number, "amount": credit_note.amount,
        "currency": credit_note.currency, "issue_date": credit_note.issue_date.isoformat(),
        "reason": credit_note.reason, "outcome": outcome,
    }
    return _answer(payload, 201 if outcome == Outcome.CREATED else 200)


STATUS = QueryParameter("status", {"type": "string", "enum": [status.value for status in InvoiceStatus]})


@operation("/invoices", "GET", summary="Invoices, filtered, oldest first, by cursor",
           query=(QueryParameter("company", schemas.EXTERNAL_REF, "company reference"), STATUS,
                  QueryParameter("po_number", {"type": "string", "maxLength": 64}),
                  QueryParameter("due_from", schemas.DATE), QueryParameter("due_to", schemas.DATE),
                  QueryParameter("issued_from", schemas.DATE), QueryParameter("issued_to", schemas.DATE),
                  CURSOR, LIMIT),
           responses={200: ("a page of invoices", schemas.page_of(schemas.INVOICE)), **_errors(400, 401)})
def list_invoices():
    args = http_request.args
    filters = api_queries.InvoiceFilters(
        company_ref=args.get("company"),
        status=_enum_arg("status", InvoiceStatus),
        po_number=args.get("po_number"),
        due_from=_date_arg("due_from"), due_to=_date_arg("due_to"),
        issued_from=_date_arg("issued_from"), issued_to=_date_arg("issued_to"),
    )
    invoices, next_after = _domain(
        api_queries.list_invoices, db.session, filters, after=_cursor_arg(), limit=_limit_arg(), today=clock.today()
    )
    return _answer({
        "data": [invoice_json(db.session, invoice, clock.today(), with_settlements=False) for invoice in invoices],
        "next_cursor": _encode_cursor(next_after),
    })


@operation("/payments", "GET", summary="Succeeded payments with their allocations, for reconciliation",
           query=(QueryParameter("since", schemas.DATETIME, "only payments that succeeded at or after this time"),
                  CURSOR, LIMIT),
           responses={200: ("a page of payments", schemas.page_of(schemas.PAYMENT)), **_errors(400, 401)})
def list_payments():
    since_at = _datetime_arg("since")
    payments, next_after = _domain(
        api_queries.list_payments, db.session, since=since_at, after=_cursor_arg(), limit=_limit_arg()
    )
    return _answer({"data": [payment_json(payment) for payment in payments], "next_cursor": _encode_cursor(next_after)})


@operation("/companies/<ref>/users", "POST", summary="Invite a clerk: e-mails a one-time link to set a password",
           request_schema=schemas.USER_REQUEST,
           responses={201: ("invited", schemas.USER), 200: ("invited again, or already a member", schemas.USER),
                      **_errors(400, 401, 404, 409, 422)})
def post_company_user(body: dict, ref: str):
    company = _domain(api_queries.company_by_ref, db.session, ref)
    try:
        user, outcome = invite_clerk(
            db.session, current_actor(), company=company, email=body["email"], role=Role(body["role"]),
            links=services().set_password_links, supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"],
        )
    except InvitationConflict as error:
        raise ApiError(409, "email_taken", str(error), field="email") from None
    return _answer(user_json(user, outcome), 201 if outcome == "invited" else 200)


def _domain(function, *args, **kwargs):
    """Call a domain function, turning its typed errors into API answers."""
    try:
        return function(*args, **kwargs)
    except (InvoiceNotFound, UnknownCompany, InvoiceConflict, InvalidInvoice) as error:
        raise _api_error_of(error) from None
    except api_queries.InvalidCursor:
        raise ApiError(400, "invalid_cursor", "this cursor was not issued by this API", field="cursor") from None


def _api_error_of(error: BillingError) -> ApiError:
    """The API's answer to a billing refusal, alone or as one item of a batch."""
    match error:
        case InvoiceNotFound():
            return ApiError(404, "not_found", str(error) or "no such invoice")
        case UnknownCompany():
            return ApiError(422, "unknown_company", str(error), field="company_ref")
        case InvoiceConflict():
            return ApiError(409, error.code, str(error), field=error.field)
        case InvalidInvoice():
            return ApiError(422, "validation_error", str(error), field=error.field)
    raise error


def _answer(payload: dict, status: int = 200):
    response = jsonify(payload)
    response.status_code = status
    return response


# RFC 3339, as "format": "date-time" says: Python's fromisoformat alone would also take
# "20261101T0000" or a space for the "T", which the document does not promise.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(?P<zone>[Zz]|[+-]\d{2}:\d{2})?")


def _datetime_arg(name: str) -> datetime | None:
    value = http_request.args.get(name)
    if value is None:
        return None
    matched = _RFC3339.fullmatch(value)
    try:
        moment = datetime.fromisoformat(value.upper()) if matched else None
    except ValueError:
        moment = None
    if moment is None:
        raise ApiError(400, "invalid_parameter", "not an RFC 3339 date-time such as 2026-11-01T00:00:00Z", field=name)
    if not matched["zone"]:
        raise ApiError(400, "invalid_parameter", "give a time zone, e.g. 2026-11-01T00:00:00Z", field=name)
    return moment


def _date_arg(name: str) -> date | None:
    value = http_request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "not a date (YYYY-MM-DD)", field=name) from None


def _enum_arg(name: str, enum):
    value = http_request.args.get(name)
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"one of: {', '.join(item.value for item in enum)}", field=name) from None


def _limit_arg() -> int:
    value = http_request.args.get("limit", "50")
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise ApiError(400, "invalid_parameter", f"a whole number from 1 to {MAX_PAGE}", field="limit")
    return int(value)


def _cursor_arg():
    cursor = http_request.args.get("cursor")
    if not cursor:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, list) or not decoded:
        raise ApiError(400, "invalid_cursor", "this cursor was not issued by this API", field="cursor")
    return decoded


def _encode_cursor(after) -> str | None:
    if after is None:
        return None
    return base64.urlsafe_b64encode(json.dumps(after).encode()).decode().rstrip("=")
