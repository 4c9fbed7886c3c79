"""The API's quick check of request bodies (fastjsonschema) is never more lenient than its validator
(jsonschema, whose errors the client reads): whatever the quick check accepts, the validator accepts."""

import copy
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.blueprints.api import (
    FORMATS,
    OPERATIONS,
    ApiValidator,
    quick_acceptance,
    views,  # noqa: F401  (registers the operations)
)
from portal.blueprints.api.schemas import COMPANY_REQUEST, INVOICE_BATCH_REQUEST

INVOICE = {
    "number": "INV-2026-001", "company_ref": "ACME-01", "po_number": "PO-7", "issue_date": "2026-11-02",
    "due_date": "2026-12-02", "currency": "EUR",
    "lines": [{"description": "Flour", "quantity": "2.5", "unit_amount": 1250, "tax_rate": "5.5"},
              {"description": "Yeast", "quantity": 3, "unit_amount": 400}],
    "custom_fields": {"cost_centre": "CC-1"},
}
BATCH = {"invoices": [INVOICE]}
SCHEMAS = {"invoice batch": INVOICE_BATCH_REQUEST, "company": COMPANY_REQUEST}
COMPANY = {"name": "Acme SA", "billing_emails": ["ap@acme.test", "o'neil+ap@mail.acme.test"], "locale": "fr",
           "region": "FR", "currency": "EUR", "billing_country": "FR", "vat_number": "FR40303265045",
           "siren": "303265045"}

# Values that sit on the edges the two validators could read differently.
TRICKY = st.one_of(
    st.sampled_from([
        "", "\n", "INV-1\n", "INV-1$", "EUR\n", "EU", "eur", "2026-02-30", "2026-2-3", "2026-11-02\n", "20261102",
        "2026-11-02T00:00:00", "ap@acme", "ap@acme.test\n", "a$b@acme.test", "@acme.test", "a@-acme.test",
        "2.5\n", "2.12345", "٣", "100.001", "100.00", "101", "-1", "1e3", "FR", "fr", "en", "de", "x" * 65,
        "x" * 201, "x" * 501, "FR40303265045\n", "30326504", "3032650450",
    ]),
    st.integers(min_value=-2, max_value=10**13 + 2), st.sampled_from([0, 1, 10**9, 10**9 + 1, 10**12, 10**12 + 1]),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1.0, 2.5, 0.0]), st.booleans(), st.none(),
    st.text(max_size=70), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                                               max_size=2),
)


def paths(value, prefix=()):
    """Every place in `value` a mutation may touch: each key and item, and the value itself."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mutated(body, path, replacement, *, drop: bool):
    body = copy.deepcopy(body)
    if not path:
        return replacement
    parent = body
    for step in path[:-1]:
        parent = parent[step]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return body


@cache
def checks(name: str):
    """The quick check and the validator of one schema, compiled once for all its examples."""
    schema = SCHEMAS[name]
    return quick_acceptance(schema), ApiValidator(schema, format_checker=FORMATS)


def agree_or_quick_is_stricter(name, body) -> None:
    accepts_quickly, validator = checks(name)
    quick = accepts_quickly(body)
    full = validator.is_valid(body)
    assert full or not quick, f"the quick check accepted what the validator refuses: {body!r}"


@pytest.mark.parametrize("operation", [op for op in OPERATIONS if op.request_schema], ids=lambda op: op.rule)
def test_every_request_schema_compiles_for_the_quick_check(operation):
    assert operation.accepts_quickly is not None
    assert operation.accepts_quickly({"unexpected": object()}) is False


@pytest.mark.parametrize(("schema", "valid"), [(INVOICE_BATCH_REQUEST, BATCH), (COMPANY_REQUEST, COMPANY)],
                         ids=["invoice batch", "company"])
def test_a_valid_body_is_accepted_quickly(schema, valid):
    assert quick_acceptance(schema)(valid) and ApiValidator(schema, format_checker=FORMATS).is_valid(valid)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize(("name", "valid"), [("invoice batch", BATCH), ("company", COMPANY)], ids=["invoice batch", "company"])
def test_a_body_changed_in_one_place_is_never_accepted_quickly_when_the_validator_refuses_it(name, valid, data):
    path = data.draw(st.sampled_from(list(paths(valid))))
    body = mutated(valid, path, data.draw(TRICKY), drop=data.draw(st.booleans()))
    agree_or_quick_is_stricter(name, body)
