"""The OpenAPI document: it covers every route the API serves, it is valid OpenAPI 3.1, and
the API never contradicts it (schemathesis generates requests from it and checks each answer).
"""

import os
import re
from datetime import date, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import API

DOCUMENT = API + "/openapi.json"
_FLASK_PARAMETER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def served_operations(app) -> set[tuple[str, str]]:
    return {
        (method.lower(), _FLASK_PARAMETER.sub(r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


@pytest.fixture
def document(client) -> dict:
    response = client.get(DOCUMENT)
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_every_api_route_is_documented_with_its_method_and_nothing_else_is(app, document):
    served = served_operations(app)

    assert ("put", API + "/invoices/{number}") in served  # the walk does see the API's routes
    assert documented_operations(document) == served


def test_each_documented_path_parameter_is_one_the_route_takes(document):
    for path, item in document["paths"].items():
        in_path = set(re.findall(r"{([a-z_]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == in_path, (method, path)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    errors = [error.message for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_only_the_document_itself_is_public_and_every_operation_lists_401_otherwise(document):
    assert document["security"] == [{"apiKey": []}]
    assert document["components"]["securitySchemes"]["apiKey"] == {"type": "http", "scheme": "bearer"}
    public = {
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == []
    }
    assert public == {("get", DOCUMENT)}
    for method, path in documented_operations(document) - public:
        assert "401" in document["paths"][path][method]["responses"], (method, path)


def test_the_document_is_served_without_a_key(client):
    response = client.get(DOCUMENT)

    assert response.status_code == 200
    assert response.get_json()["info"]["title"] == "Acquit supplier API"


# --- schemathesis: generated requests, every answer checked against the document -------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
# Per operation and mode; ACQUIT_SCHEMATHESIS_EXAMPLES=200 runs a deeper search by hand.
EXAMPLES = int(os.environ.get("ACQUIT_SCHEMATHESIS_EXAMPLES", 25))
SCHEMATHESIS_CONFIG = schemathesis.Config.from_dict({
    # A query string over the portal's limit is refused whole (414) before the view checks it.
    "checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 404, 409, 414, 422]}},
})

ACME, ISSUED = "ACME", date.today() - timedelta(days=5)


@pytest.fixture
def seeded(db, make, erp):
    """A company with open, paid, credited and void invoices, so generated requests find data."""
    company = make.company(ref=ACME, currency="EUR")
    invoices = {
        name: make.invoice(company, number=name, total=10**12, issue_date=ISSUED, po_number="PO-1")
        for name in (*_ANCHORS["number"], "INV-TO-VOID", "INV-TO-LINK")
    }
    make.payment(invoices["INV-PAID"], 10**11)
    make.credit_note(invoices["INV-CREDITED"], 500)
    db.commit()
    assert erp.post("/invoices/INV-VOID/void", {"reason": "duplicate"}).status_code == 200
    return invoices


# Cases that reach past "no such company/invoice": generated values with known references
# put in, so the run also exercises what happens to real data (updates, conflicts, credits).
_ANCHORS = {
    "ref": [ACME],
    "number": ["INV-OPEN", "INV-PAID", "INV-CREDITED", "INV-VOID"],
    "key": ["cost_centre"],
}

# One well-formed request per operation, sent first: the answer to a request that succeeds is
# checked against the document every run, whatever the generator happens to draw.
WELL_FORMED = {
    "PUT /api/v1/companies/{ref}": dict(
        path_parameters={"ref": "NEWCO"},
        body={"name": "New Co", "billing_emails": ["ap@newco.test"], "locale": "en", "currency": "USD",
              "billing_address": "1 Main Street", "billing_postcode": "10001", "billing_city": "New York",
              "billing_country": "US", "vat_number": "FR40303265045", "siren": "303265045"}),
    "PUT /api/v1/custom-fields/{key}": dict(
        path_parameters={"key": "cost_centre"}, body={"labels": {"fr": "Centre de coût", "en": "Cost centre"}}),
    "GET /api/v1/custom-fields": dict(),
    "POST /api/v1/companies/{ref}/users": dict(
        path_parameters={"ref": ACME}, body={"email": "clerk@acme.test", "role": "payer"}),
    "POST /api/v1/credit-notes": dict(
        body={"number": "CN-WF-1", "invoice_number": "INV-OPEN", "amount": 100, "issue_date": ISSUED.isoformat(),
              "reason": "damaged"}),
    "GET /api/v1/invoices": dict(query={"company": ACME, "status": "open", "limit": 2}),
    "GET /api/v1/invoices/{number}": dict(path_parameters={"number": "INV-PAID"}),
    "PUT /api/v1/invoices/{number}": dict(
        path_parameters={"number": "INV-WF-1"},
        body={"company_ref": ACME, "po_number": "PO-9", "issue_date": ISSUED.isoformat(),
              "due_date": (ISSUED + timedelta(days=30)).isoformat(), "currency": "EUR",
              "lines": [{"description": "Pallets", "quantity": "2.5", "unit_amount": 1999, "tax_rate": "20.00"}],
              "custom_fields": {"cost_centre": "R&D"}}),
    "POST /api/v1/invoices:batch": dict(
        body={"invoices": [
            {"number": "INV-WF-B1", "company_ref": ACME, "issue_date": ISSUED.isoformat(),
             "due_date": (ISSUED + timedelta(days=30)).isoformat(), "currency": "EUR",
             "lines": [{"description": "Pallets", "quantity": 3, "unit_amount": 1500, "tax_rate": "5.5"}]},
            {"number": "INV-PAID", "company_ref": ACME, "issue_date": ISSUED.isoformat(),
             "due_date": ISSUED.isoformat(), "currency": "EUR",
             "lines": [{"description": "Repriced", "quantity": 1, "unit_amount": 1}]},
        ]}),
    "POST /api/v1/invoices/{number}/pay-link": dict(path_parameters={"number": "INV-TO-LINK"}),
    "POST /api/v1/invoices/{number}/void": dict(path_parameters={"number": "INV-TO-VOID"}, body={"reason": "x"}),
    "GET /api/v1/payments": dict(query={"since": "2000-01-01T00:00:00Z"}),
}


def _anchored(operation, mode):
    """Strategies for `operation`: purely generated, and generated around the seeded data."""
    strategies = [operation.as_strategy(generation_mode=mode)]
    if mode is not GenerationMode.POSITIVE:
        return strategies
    names = [parameter.name for parameter in operation.path_parameters]
    fixed_paths = [{names[0]: value} for value in _ANCHORS[names[0]]] if names else []
    for path_parameters in [None, *fixed_paths]:
        anchored = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
        if operation.body:
            strategies.append(anchored.flatmap(_with_known_references))
        elif path_parameters:
            strategies.append(anchored)
    return strategies


def _with_known_references(case):
    def put_in(number):
        body = case.body
        # A batch's invoices each get the known references too.
        items = body["invoices"] if isinstance(body, dict) and isinstance(body.get("invoices"), list) else [body]
        for item in items:
            if isinstance(item, dict):
                for name, value in (("company_ref", ACME), ("currency", "EUR"), ("invoice_number", number)):
                    if name in item:
                        item[name] = value
                if "issue_date" in item and "due_date" in item and item["due_date"] < item["issue_date"]:
                    item["issue_date"], item["due_date"] = item["due_date"], item["issue_date"]
        return case

    return st.sampled_from(_ANCHORS["number"]).map(put_in)


def test_generated_requests_get_no_server_error_and_answers_that_match_the_document(app, erp, seeded):
    schema = schemathesis.openapi.from_wsgi(DOCUMENT, app, config=SCHEMATHESIS_CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Everything but the document itself, each with a well-formed request of its own.
    assert {operation.label for operation in operations} == set(WELL_FORMED)
    assert len(operations) == len(documented_operations(schema.raw_schema)) - 1
    failures: list[str] = []
    succeeded: set[str] = set()

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS

            @given(case=st.one_of(_anchored(operation, mode)))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                             HealthCheck.function_scoped_fixture])
            def answers_match(case):
                response = case.call(headers=erp.headers)
                if response.status_code < 300:
                    succeeded.add(operation.label)
                case.validate_response(response, checks=checks, headers=erp.headers)

            if mode is GenerationMode.POSITIVE:
                answers_match = example(case=operation.Case(**WELL_FORMED[operation.label]))(answers_match)
            try:
                answers_match()
            except Exception as failure:  # one report for the whole API rather than stopping at the first
                failures.append(f"{operation.label} ({mode.value}):\n{failure}")

    assert not failures, "\n\n".join(failures)
    assert succeeded == set(WELL_FORMED)
