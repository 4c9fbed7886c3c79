"""Every way an ERP can get a request wrong: the right status, a JSON error naming the field,
and nothing written.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.models import AuditEvent, Invoice, InvoiceLine, OutboxMessage
from tests.api.conftest import API
from tests.api.test_erp_flow import database_snapshot

ISSUED = date.today() - timedelta(days=3)
LINE = {"description": "Pallets", "quantity": 3, "unit_amount": 1999, "tax_rate": "20.00"}


def invoice(**changes) -> dict:
    body = {"company_ref": "ACME", "issue_date": ISSUED.isoformat(),
            "due_date": (ISSUED + timedelta(days=30)).isoformat(), "currency": "EUR", "lines": [dict(LINE)]}
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def line(**changes) -> dict:
    return {**LINE, **changes}


@pytest.fixture(autouse=True)
def acme(erp):
    assert erp.put("/companies/ACME", {"name": "Acme SAS", "billing_emails": ["ap@acme.test"]}).status_code == 201


def error_of(response) -> tuple:
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["message"]
    return response.status_code, error["code"], error["field"]


INVOICE_BODY_ERRORS = {
    "unknown field": (invoice(colour="blue"), "colour"),
    "unknown field in a line": (invoice(lines=[line(discount="10")]), "lines[0].discount"),
    "missing field": (invoice(currency=None), "currency"),
    "amount as a string": (invoice(lines=[line(unit_amount="1999")]), "lines[0].unit_amount"),
    "amount with cents": (invoice(lines=[line(unit_amount=19.99)]), "lines[0].unit_amount"),
    "lines not a list": (invoice(lines={"description": "x"}), "lines"),
    "no lines": (invoice(lines=[]), "lines"),
    "negative quantity": (invoice(lines=[line(quantity=-1)]), "lines[0].quantity"),
    "negative quantity as text": (invoice(lines=[line(quantity="-1")]), "lines[0].quantity"),
    "quantity as a float": (invoice(lines=[line(quantity=2.5)]), "lines[0].quantity"),
    "quantity finer than 4 decimals": (invoice(lines=[line(quantity="2.12345")]), "lines[0].quantity"),
    "negative amount": (invoice(lines=[line(unit_amount=-5)]), "lines[0].unit_amount"),
    "tax rate over 100 %": (invoice(lines=[line(tax_rate="100.01")]), "lines[0].tax_rate"),
    "tax rate as a float": (invoice(lines=[line(tax_rate=20.0)]), "lines[0].tax_rate"),
    "month 13": (invoice(issue_date="2026-13-01"), "issue_date"),
    "30 February": (invoice(due_date="2027-02-30"), "due_date"),
    "a French date": (invoice(issue_date="01/02/2026"), "issue_date"),
    "a date-time for a date": (invoice(issue_date="2026-02-01T00:00:00Z"), "issue_date"),
    "lower-case currency": (invoice(currency="eur"), "currency"),
    "made-up currency": (invoice(currency="EUX"), "currency"),
    "due before issued": (invoice(due_date=(ISSUED - timedelta(days=1)).isoformat()), "due_date"),
    "a total no ledger holds": (invoice(lines=[line(quantity=10**9, unit_amount=10**12)]), "lines"),
    "custom field not text": (invoice(custom_fields={"cost_centre": 12}), "custom_fields.cost_centre"),
    "NUL in a description": (invoice(lines=[line(description="Pal\x00lets")]), "lines[0].description"),
    "NUL in a custom field name": (invoice(custom_fields={"a\x00b": "x"}), "custom_fields.a\x00b"),
}


@pytest.mark.parametrize("body, field", INVOICE_BODY_ERRORS.values(), ids=INVOICE_BODY_ERRORS.keys())
def test_an_invalid_invoice_gets_422_naming_the_field_and_writes_nothing(erp, db, body, field):
    before = database_snapshot(db)

    response = erp.put("/invoices/INV-1", body)

    assert error_of(response) == (422, "validation_error", field)
    assert database_snapshot(db) == before


def test_an_invoice_for_an_unknown_company_gets_422_naming_company_ref(erp, db):
    response = erp.put("/invoices/INV-1", invoice(company_ref="NOBODY"))

    assert error_of(response) == (422, "unknown_company", "company_ref")
    assert "NOBODY" in response.get_json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Invoice)) == 0


@pytest.mark.parametrize("number", ["bad number", "-starts-with-a-dash", "x" * 65, "été", "INV-1%0A"])
def test_an_invoice_number_outside_the_documented_pattern_gets_422_naming_number(erp, number):
    assert error_of(erp.put(f"/invoices/{number}", invoice())) == (422, "validation_error", "number")


@pytest.mark.parametrize("address", [
    "ap@beta.test\nBcc: x@evil.test", "ap@beta.test\n", "ap beta@beta.test", "ap@beta", "ap@@beta.test",
    "ap..x@beta.test", "ap@beta.test*",
])
def test_an_address_that_cannot_go_into_an_e_mail_header_gets_422(erp, address):
    response = erp.put("/companies/BETA", {"name": "Beta", "billing_emails": ["ok@beta.test", address]})

    assert error_of(response) == (422, "validation_error", "billing_emails[1]")


def test_a_company_with_an_unusable_currency_or_name_gets_422(erp):
    assert error_of(erp.put("/companies/BETA", {"name": "Beta", "currency": "EUX"})) == (
        422, "validation_error", "currency")
    assert error_of(erp.put("/companies/BETA", {"name": 5})) == (422, "validation_error", "name")
    assert error_of(erp.put("/companies/BETA", {})) == (422, "validation_error", "name")


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"),
    ('{"name": "Beta"}', "text/plain"),
    ("", "application/json"),
    (None, None),
], ids=["invalid JSON", "JSON sent as text", "empty body", "no body"])
def test_a_body_that_is_not_json_gets_400(erp, data, content_type):
    headers = {**erp.headers, **({"Content-Type": content_type} if content_type else {})}

    response = erp.client.put(f"{API}/companies/BETA", data=data, headers=headers)

    assert error_of(response) == (400, "invalid_json", None)


def test_json_that_is_not_an_object_gets_422(erp):
    response = erp.client.put(f"{API}/companies/BETA", json=["Beta"], headers=erp.headers)

    assert error_of(response)[:2] == (422, "validation_error")


@pytest.mark.parametrize("method, path", [
    ("GET", "/invoices/INV-404"),
    ("POST", "/invoices/INV-404/void"),
    ("GET", "/invoices/INV%00404"),
])
def test_an_unknown_invoice_gets_404(erp, method, path):
    response = erp.get(path) if method == "GET" else erp.post(path, {})

    assert error_of(response)[:2] == (404, "not_found")


def test_a_credit_note_for_an_unknown_invoice_gets_404_and_a_zero_one_422(erp):
    missing = erp.post("/credit-notes", {"number": "CN-1", "invoice_number": "INV-404", "amount": 100})
    zero = erp.post("/credit-notes", {"number": "CN-1", "invoice_number": "INV-404", "amount": 0})

    assert error_of(missing)[:2] == (404, "not_found")
    assert error_of(zero) == (422, "validation_error", "amount")


QUERY_ERRORS = {
    "bad cursor": ("/invoices", {"cursor": "not-a-cursor"}, "invalid_cursor", "cursor"),
    "cursor of another list": ("/payments", {"cursor": "WzFd"}, "invalid_cursor", "cursor"),  # "[1]"
    "cursor of no list": ("/invoices", {"cursor": "eyJhIjogMX0"}, "invalid_cursor", "cursor"),  # '{"a": 1}'
    "limit 0": ("/invoices", {"limit": "0"}, "invalid_parameter", "limit"),
    "limit too high": ("/invoices", {"limit": "201"}, "invalid_parameter", "limit"),
    "limit negative": ("/payments", {"limit": "-1"}, "invalid_parameter", "limit"),
    "limit not a number": ("/invoices", {"limit": "ten"}, "invalid_parameter", "limit"),
    "unknown status": ("/invoices", {"status": "lost"}, "invalid_parameter", "status"),
    "empty status": ("/invoices", {"status": ""}, "invalid_parameter", "status"),
    "date not a date": ("/invoices", {"issued_from": "yesterday"}, "invalid_parameter", "issued_from"),
    "due date not a date": ("/invoices", {"due_to": "2026-02-30"}, "invalid_parameter", "due_to"),
    "company outside the pattern": ("/invoices", {"company": "a b"}, "invalid_parameter", "company"),
    "NUL in a PO number": ("/invoices", {"po_number": "PO\x001"}, "invalid_parameter", "po_number"),
    "since without time zone": ("/payments", {"since": "2026-11-01T00:00:00"}, "invalid_parameter", "since"),
    "since a date only": ("/payments", {"since": "2026-11-01"}, "invalid_parameter", "since"),
    "since not a time": ("/payments", {"since": "last week"}, "invalid_parameter", "since"),
    "since empty": ("/payments", {"since": ""}, "invalid_parameter", "since"),
    "since with a space for the T": ("/payments", {"since": "2026-11-01 00:00:00Z"}, "invalid_parameter", "since"),
    "since in ISO basic format": ("/payments", {"since": "20261101T000000Z"}, "invalid_parameter", "since"),
    "since on 31 November": ("/payments", {"since": "2026-11-31T00:00:00Z"}, "invalid_parameter", "since"),
}


@pytest.mark.parametrize("path, query, code, field", QUERY_ERRORS.values(), ids=QUERY_ERRORS.keys())
def test_a_bad_query_parameter_gets_400_naming_it(erp, path, query, code, field):
    assert error_of(erp.get(path, query_string=query)) == (400, code, field)


def test_since_without_a_time_zone_says_how_to_write_one(erp):
    response = erp.get("/payments", query_string={"since": "2026-11-01T00:00:00"})

    assert "2026-11-01T00:00:00Z" in response.get_json()["error"]["message"]


def test_a_request_failing_on_its_second_line_writes_no_invoice(erp, db):
    before = database_snapshot(db)

    by_schema = erp.put("/invoices/INV-1", invoice(lines=[line(), line(quantity=-2)]))
    by_rule = erp.put("/invoices/INV-1", invoice(lines=[line(), line(quantity=10**9, unit_amount=10**12)]))

    assert error_of(by_schema) == (422, "validation_error", "lines[1].quantity")
    assert error_of(by_rule) == (422, "validation_error", "lines")
    assert erp.get("/invoices/INV-1").status_code == 404
    assert database_snapshot(db) == before
    for model in (Invoice, InvoiceLine, OutboxMessage):
        assert db.scalar(select(func.count()).select_from(model)) == 0


def test_a_refused_update_leaves_the_invoice_as_it_was(erp, db):
    assert erp.put("/invoices/INV-1", invoice(po_number="PO-1")).status_code == 201
    before = database_snapshot(db)
    audit_rows = db.scalar(select(func.count()).select_from(AuditEvent))

    response = erp.put("/invoices/INV-1", invoice(po_number="PO-2", lines=[line(), line(tax_rate="101")]))

    assert error_of(response) == (422, "validation_error", "lines[1].tax_rate")
    assert database_snapshot(db) == before
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows
    assert erp.get("/invoices/INV-1").get_json()["po_number"] == "PO-1"


def test_a_route_or_method_the_api_does_not_have_answers_json(erp):
    unknown = erp.get("/refunds")
    wrong_method = erp.client.delete(f"{API}/invoices/INV-1", headers=erp.headers)

    assert (unknown.status_code, unknown.mimetype) == (404, "application/json")
    assert (wrong_method.status_code, wrong_method.mimetype) == (405, "application/json")
    assert "error" in unknown.get_json() and "error" in wrong_method.get_json()
