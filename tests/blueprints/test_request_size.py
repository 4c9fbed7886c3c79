"""Request bodies are small everywhere but where files are uploaded; CSRF protection on, as in production."""

import io

import pytest

from portal.accounts.api_keys import create_api_key
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import csrf_token
from tests.builders import PDF_BYTES, Builders

NEARLY_TEN_MEGABYTES = 10 * 1024 * 1024 - 1024
TWO_MEGABYTES = 2 * 1024 * 1024


@pytest.fixture
def app_overrides():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def payer_client(client, make):
    payer = make.user(make.company(locale="en"))
    make.session.commit()
    set_language(client, "en")
    token = csrf_token(client.get("/login"))
    signed_in = client.post("/login", data={"csrf_token": token, "email": payer.email, "password": Builders.PASSWORD})
    assert signed_in.status_code == 303
    client.payer = payer
    return client


def test_a_dispute_may_carry_files_far_beyond_the_general_limit(db, make, payer_client):
    invoice = make.invoice(payer_client.payer.company)
    make.session.commit()
    form_page = payer_client.get(f"/invoices/{invoice.id}/disputes/new")

    response = payer_client.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(form_page), "reason": "damaged", "scope": "all", "message": "Three scans.",
        "attachments": [(io.BytesIO(PDF_BYTES + b"0" * (NEARLY_TEN_MEGABYTES - len(PDF_BYTES))), f"scan-{n}.pdf")
                        for n in range(3)],
    })

    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def test_a_large_body_where_no_file_is_expected_is_refused(payer_client):
    response = payer_client.post("/payments", data={"csrf_token": "x", "note": "x" * TWO_MEGABYTES})

    assert response.status_code == 413
    assert "What you sent is too large." in response.get_data(as_text=True)


def test_a_large_api_body_is_refused_with_a_json_error(client, db):
    _, key = create_api_key(db, "erp")
    db.commit()
    lines = [{"description": "x" * 1000, "quantity": 1, "unit_amount": 1, "tax_rate": "0"}] * 2000

    response = client.put("/api/v1/invoices/INV-BIG", json={"company_ref": "ACME", "lines": lines},
                          headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 413
    assert response.get_json()["error"]["code"]
