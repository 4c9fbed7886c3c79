"""JSON Schemas (2020-12) of the API's bodies: they validate requests and make up the OpenAPI document."""

from portal.billing.ingest import MAX_BATCH
from portal.billing.status import InvoiceStatus

_REFERENCE_RULE = "letters, digits, '.', '_' and '-' (not first), up to 64 characters"
EXTERNAL_REF = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._\-]*$",
                "description": _REFERENCE_RULE}
# No "/" in numbers: they travel in URL paths (PUT /invoices/{number}).
INVOICE_NUMBER = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._\-]*$",
                  "description": _REFERENCE_RULE}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code, e.g. EUR"}
DATE = {"type": "string", "format": "date", "description": "ISO 8601 date, YYYY-MM-DD"}
DATETIME = {"type": "string", "format": "date-time"}
MINOR_UNITS = {"type": "integer", "minimum": 0, "maximum": 10**13, "description": "amount in minor units (cents)"}
LOCALE = {"type": "string", "enum": ["fr", "en"]}
REGION = {"type": ["string", "null"], "pattern": "^[A-Z]{2}$",
          "description": "ISO 3166 country whose date and number formats the company reads (GB: 15 Nov 2026)"}
# An address goes into an e-mail header, where a line break would end the header (Python's
# email package refuses it when sending): so a plain RFC 5321 dot-atom at a dotted domain name,
# which is also what "format": "email" means to clients that check it strictly.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = {"type": "string", "format": "email", "maxLength": 254,
         "pattern": rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$"}
CUSTOM_FIELDS = {
    "type": "object",
    "maxProperties": 20,
    "propertyNames": {"type": "string", "minLength": 1, "maxLength": 40},
    "additionalProperties": {"type": "string", "maxLength": 200},
    "description": "customer-defined fields shown on the invoice, searchable and exported",
}

# The buyer's identity printed on its invoices and carried in their Factur-X data.
COMPANY_IDENTITY = {
    "billing_address": {"type": ["string", "null"], "maxLength": 300, "description": "street address, one line"},
    "billing_postcode": {"type": ["string", "null"], "maxLength": 20},
    "billing_city": {"type": ["string", "null"], "maxLength": 100},
    "billing_country": {"type": ["string", "null"], "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2, e.g. FR"},
    "vat_number": {"type": ["string", "null"], "pattern": "^[A-Za-z]{2}[A-Za-z0-9]{2,13}$",
                   "description": "intra-EU VAT number, e.g. FR40303265045 (its check digits are checked)"},
    "siren": {"type": ["string", "null"], "pattern": r"^\d{9}$", "description": "French SIREN, 9 digits"},
}

COMPANY_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "billing_emails": {"type": "array", "items": EMAIL, "maxItems": 20, "uniqueItems": True,
                           "description": "The company's billing recipients. A new address receives invoices, "
                                          "reminders, receipts and statements, with the PDF; an address already "
                                          "there keeps what the company's admins chose for it; one left out "
                                          "is removed."},
        "locale": LOCALE,
        "region": REGION,
        "currency": CURRENCY,
        **COMPANY_IDENTITY,
    },
}

COMPANY = {
    "type": "object",
    "required": ["ref", "name", "billing_emails", "locale", "currency"],
    "properties": {
        "ref": {"type": "string"},
        "name": {"type": "string"},
        "billing_emails": {"type": "array", "items": {"type": "string"}},
        "locale": LOCALE,
        "region": REGION,
        "currency": CURRENCY,
        **COMPANY_IDENTITY,
        "outcome": {"type": "string", "enum": ["created", "updated", "unchanged"]},
    },
}

FIELD_KEY = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[^/]+$",
             "description": "a custom field's key, as invoices carry it in `custom_fields`"}
CUSTOM_FIELD_LABEL_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["labels"],
    "properties": {
        "labels": {
            "type": "object",
            "description": "the field's label per language, printed on invoices in the buyer's language",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {locale: {"type": "string", "minLength": 1, "maxLength": 100} for locale in ("fr", "en")},
        },
    },
}
CUSTOM_FIELD_LABEL = {
    "type": "object",
    "required": ["key", "labels"],
    "properties": {
        "key": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "outcome": {"type": "string", "enum": ["created", "updated", "unchanged"]},
    },
}

LINE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["description", "quantity", "unit_amount"],
    "properties": {
        "description": {"type": "string", "minLength": 1, "maxLength": 500},
        "quantity": {
            # Not a JSON float: 2.675 is not exactly 2.675 as a double, and a quantity is exact.
            "description": "a whole number, or a decimal string with up to 4 decimals such as \"2.5\"",
            "oneOf": [
                {"type": "integer", "minimum": 0, "maximum": 10**9},
                {"type": "string", "pattern": r"^\d{1,9}(\.\d{1,4})?$"},
            ],
        },
        "unit_amount": {"type": "integer", "minimum": 0, "maximum": 10**12, "description": "minor units"},
        "tax_rate": {
            "type": "string",
            "pattern": r"^(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)$",
            "description": "percentage from 0 to 100 as a decimal string, e.g. \"20.00\"; never a float",
        },
    },
}

INVOICE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["company_ref", "issue_date", "due_date", "currency", "lines"],
    "properties": {
        "company_ref": EXTERNAL_REF,
        "po_number": {"type": ["string", "null"], "maxLength": 64},
        "issue_date": DATE,
        "due_date": DATE,
        "currency": CURRENCY,
        "lines": {"type": "array", "minItems": 1, "maxItems": 500, "items": LINE_REQUEST},
        "custom_fields": CUSTOM_FIELDS,
    },
}

INVOICE_BATCH_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["invoices"],
    "properties": {
        "invoices": {
            "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
            "description": "each invoice as `PUT /api/v1/invoices/{number}` takes it, with its `number`; "
                           "a number may appear once per batch",
            "items": {
                **INVOICE_REQUEST,
                "required": ["number", *INVOICE_REQUEST["required"]],
                "properties": {"number": INVOICE_NUMBER, **INVOICE_REQUEST["properties"]},
            },
        },
    },
}

LINE = {
    "type": "object",
    "required": ["description", "quantity", "unit_amount", "tax_rate", "amount_net", "amount_tax"],
    "properties": {
        "description": {"type": "string"},
        "quantity": {"type": "string"},
        "unit_amount": {"type": "integer"},
        "tax_rate": {"type": "string"},
        "amount_net": {"type": "integer"},
        "amount_tax": {"type": "integer"},
    },
}

ALLOCATION = {
    "type": "object",
    "required": ["payment_id", "invoice_number", "amount", "currency", "succeeded_at"],
    "properties": {
        "payment_id": {"type": "integer"},
        "invoice_number": {"type": "string"},
        "amount": {"type": "integer"},
        "currency": CURRENCY,
        "succeeded_at": {"type": ["string", "null"], "format": "date-time"},
    },
}

CREDIT_NOTE = {
    "type": "object",
    "required": ["number", "invoice_number", "amount", "currency", "issue_date"],
    "properties": {
        "number": {"type": "string"},
        "invoice_number": {"type": "string"},
        "amount": {"type": "integer"},
        "currency": CURRENCY,
        "issue_date": DATE,
        "reason": {"type": "string"},
        "outcome": {"type": "string", "enum": ["created", "unchanged"]},
    },
}

INVOICE = {
    "type": "object",
    "required": ["number", "company_ref", "status", "po_number", "issue_date", "due_date", "currency", "amount_net",
                 "amount_tax", "amount_total", "amount_paid", "amount_credited", "amount_due", "custom_fields",
                 "voided_at"],
    "properties": {
        "number": {"type": "string"},
        "company_ref": {"type": "string"},
        "status": {"type": "string", "enum": [status.value for status in InvoiceStatus]},
        "po_number": {"type": ["string", "null"]},
        "issue_date": DATE,
        "due_date": DATE,
        "currency": CURRENCY,
        "amount_net": {"type": "integer"},
        "amount_tax": {"type": "integer"},
        "amount_total": {"type": "integer"},
        "amount_paid": {"type": "integer"},
        "amount_credited": {"type": "integer"},
        "amount_due": {"type": "integer"},
        "custom_fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "voided_at": {"type": ["string", "null"], "format": "date-time"},
        "lines": {"type": "array", "items": LINE},
        "allocations": {"type": "array", "items": ALLOCATION},
        "credit_notes": {"type": "array", "items": CREDIT_NOTE},
        "outcome": {"type": "string", "enum": ["created", "updated", "unchanged"]},
    },
}

VOID_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "maxLength": 500}},
}

CREDIT_NOTE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["number", "invoice_number", "amount"],
    "properties": {
        "number": INVOICE_NUMBER,
        "invoice_number": INVOICE_NUMBER,
        "amount": {"type": "integer", "minimum": 1, "maximum": 10**13},
        "issue_date": DATE,
        "reason": {"type": "string", "maxLength": 500},
    },
}

PAYMENT = {
    "type": "object",
    "required": ["id", "amount", "currency", "status", "company_ref", "method", "reference", "succeeded_at",
                 "allocations"],
    "properties": {
        "id": {"type": "integer"},
        "company_ref": {"type": "string"},
        "amount": {"type": "integer"},
        "currency": CURRENCY,
        "status": {"type": "string"},
        "method": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "succeeded_at": {"type": ["string", "null"], "format": "date-time"},
        "allocations": {"type": "array", "items": ALLOCATION},
    },
}

USER_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["email", "role"],
    "properties": {"email": EMAIL, "role": {"type": "string", "enum": ["admin", "payer", "viewer"]}},
}

USER = {
    "type": "object",
    "required": ["email", "role", "company_ref", "outcome"],
    "properties": {
        "email": {"type": "string"},
        "role": {"type": "string"},
        "company_ref": {"type": "string"},
        "outcome": {"type": "string", "enum": ["invited", "reinvited", "unchanged"]},
    },
}


def page_of(item_schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": item_schema},
            "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page"},
        },
    }


ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": ["string", "integer"]},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"]},
            },
        }
    },
}


BATCH_ITEM_RESULT = {
    "type": "object",
    "required": ["index", "number"],
    "properties": {
        "index": {"type": "integer", "description": "the invoice's position in the batch, from 0"},
        "number": {"type": "string"},
        "outcome": {"type": "string", "enum": ["created", "updated", "unchanged"]},
        "error": {**ERROR["properties"]["error"], "description": "why this invoice was refused (and left unchanged)"},
    },
}
INVOICE_BATCH_RESULTS = {
    "type": "object",
    "required": ["results", "counts"],
    "properties": {
        "results": {"type": "array", "items": BATCH_ITEM_RESULT},
        "counts": {
            "type": "object",
            "required": ["created", "updated", "unchanged", "refused"],
            "properties": {name: {"type": "integer"} for name in ("created", "updated", "unchanged", "refused")},
        },
    },
}
