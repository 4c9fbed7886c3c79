"""Hostile or unlucky API input answers 4xx, never a 500, on SQLite and on PostgreSQL
(scripts/test-postgres): deeply nested JSON, cursors the API never issued, updates of an
invoice that has or had a line dispute.
"""

import base64
import json

import pytest

from portal.models import Dispute, Invoice, User
from tests.api.conftest import API

# --- deeply nested JSON -----------------------------------------------------------------------


def deeply_nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


@pytest.mark.parametrize("depth", [200, 5_000, 100_000])
def test_deeply_nested_json_to_the_api_gets_400(erp, depth):
    response = erp.client.put(API + "/companies/NEST", data=deeply_nested(depth),
                              headers={**erp.headers, "Content-Type": "application/json"})

    assert response.status_code in (400, 422), response.status_code
    assert response.get_json()["error"]["code"] in ("invalid_json", "validation_error")


def test_deeply_nested_json_inside_an_object_gets_400_or_422(erp):
    body = b'{"name": ' + deeply_nested(50_000) + b', "billing_emails": []}'

    response = erp.client.put(API + "/companies/NEST", data=body,
                              headers={**erp.headers, "Content-Type": "application/json"})

    assert response.status_code in (400, 422), response.status_code


# --- pagination cursors -----------------------------------------------------------------------


def cursor_of(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path, cursor", [
    ("/invoices", [2**63]),
    ("/invoices", [10**40]),
    ("/invoices", [-(2**63) - 1]),
    ("/invoices", [1.5e308]),
    ("/invoices", [True]),
    ("/payments", ["2026-01-01T00:00:00+00:00", 2**63]),
    ("/payments", ["2026-01-01T00:00:00+00:00", 10**40]),
    ("/payments", ["9999-12-31T23:59:59+00:00", "1"]),
    ("/payments", ["2026-01-01T00:00:00+00:00", 1, 2]),
])
def test_a_cursor_beyond_what_the_api_issues_gets_400(erp, path, cursor):
    response = erp.get(path, query_string={"cursor": cursor_of(cursor)})

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == {"code": "invalid_cursor", "field": "cursor",
                                            "message": "this cursor was not issued by this API"}


# --- an invoice with a line dispute, updated through the API ----------------------------------


@pytest.fixture
def disputed_invoice(db, make, app):
    from portal.blueprints.app_services import services
    from portal.disputes.service import DisputeClaim, raise_dispute
    from portal.models import Role

    company = make.company(ref="DISP", currency="EUR")
    clerk = make.user(company, role=Role.ADMIN)
    invoice = make.invoice(company, number="INV-DISP-1", total=10_000)
    with app.app_context():
        context = services().disputes
    line_ids = [line.id for line in invoice.lines]
    dispute = raise_dispute(db, context, clerk, invoice=invoice,
                            claim=DisputeClaim(reason="wrong_price", message="Line 1 is wrong.", amount=None,
                                               line_ids=tuple(line_ids)))
    db.commit()
    return invoice, dispute, context, make.staff()


def invoice_body(invoice: Invoice, **changes) -> dict:
    body = {"company_ref": invoice.company.external_ref, "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(), "currency": invoice.currency,
            "lines": [{"description": line.description, "quantity": str(line.quantity),
                       "unit_amount": line.unit_amount, "tax_rate": str(line.tax_rate)} for line in invoice.lines]}
    return {**body, **changes}


def test_updating_an_invoice_with_a_line_dispute_gets_409_or_200_never_500(erp, db, disputed_invoice):
    invoice, _dispute, _context, _staff = disputed_invoice

    unchanged = erp.put(f"/invoices/{invoice.number}", invoice_body(invoice))
    new_terms = erp.put(f"/invoices/{invoice.number}", invoice_body(invoice, po_number="PO-NEW"))
    new_lines = erp.put(f"/invoices/{invoice.number}", invoice_body(invoice, lines=[
        {"description": "Other", "quantity": "1", "unit_amount": 500, "tax_rate": "0"}]))

    assert unchanged.status_code == 200, unchanged.get_json()
    assert new_terms.status_code == 200, new_terms.get_json()
    assert (new_lines.status_code, new_lines.get_json()["error"]["code"]) == (409, "invoice_disputed")


def test_updating_an_invoice_whose_line_dispute_is_closed_gets_409_or_200_never_500(erp, db, disputed_invoice):
    from portal.disputes.service import withdraw_dispute

    invoice, dispute, context, _staff = disputed_invoice
    withdraw_dispute(db, context, db.get(User, dispute.raised_by_user_id), dispute)
    db.commit()

    new_terms = erp.put(f"/invoices/{invoice.number}", invoice_body(invoice, po_number="PO-AFTER"))
    new_lines = erp.put(f"/invoices/{invoice.number}", invoice_body(invoice, lines=[
        {"description": "Other", "quantity": "1", "unit_amount": 500, "tax_rate": "0"}]))

    assert new_terms.status_code == 200, new_terms.get_json()
    assert (new_lines.status_code, new_lines.get_json()["error"]["code"]) == (409, "invoice_lines_in_closed_dispute")
    db.expire_all()
    assert db.get(Dispute, dispute.id).lines
