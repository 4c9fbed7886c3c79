"""API keys: only a valid, unrevoked key opens the API; the key is shown once and never kept
or logged anywhere.
"""

import hashlib
import http.client
import json
import logging
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.blueprints.api import OPERATIONS, blueprint
from portal.models import ApiKey
from tests.api.conftest import API, create_key_with_cli

CHALLENGE = 'Bearer realm="acquit"'


def assert_refused(response, code: str) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize("authorization, code", [
    (None, "unauthenticated"),
    ("", "unauthenticated"),
    ("Bearer", "unauthenticated"),
    ("Bearer    ", "unauthenticated"),
    ("Basic ZXJwOnNlY3JldA==", "unauthenticated"),
    ("Token {key}", "unauthenticated"),
    ("{key}", "unauthenticated"),
    ("Bearer acq_not-a-key-we-issued", "invalid_api_key"),
    ("Bearer {key}x", "invalid_api_key"),
    ("Bearer {key_without_prefix}", "invalid_api_key"),
    ("Bearer " + "a" * 5000, "invalid_api_key"),
])
def test_a_missing_malformed_or_wrong_key_gets_401_with_a_bearer_challenge(client, api_key, authorization, code):
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(key=api_key, key_without_prefix=api_key[4:])

    assert_refused(client.get(f"{API}/invoices", headers=headers), code)


def test_a_valid_key_opens_the_api_whatever_the_case_of_the_scheme(client, api_key):
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = client.get(f"{API}/invoices", headers={"Authorization": f"{scheme} {api_key}"})
        assert response.status_code == 200


def test_every_operation_but_the_document_refuses_a_request_without_a_key_before_reading_it(app, client, db):
    checked = 0
    for spec in OPERATIONS:
        path = blueprint.url_prefix + spec.rule.replace("<ref>", "ACME").replace("<number>", "INV-1")
        response = client.open(path, method=spec.method, data="{not json", content_type="application/json")
        if spec.public:
            assert response.status_code == 200, path
        else:
            assert_refused(response, "unauthenticated")
            checked += 1
    assert checked == len(OPERATIONS) - 1 >= 8


def test_a_key_revoked_with_the_cli_stops_working_at_once(app, client, db):
    key = create_key_with_cli(app, "erp")
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(f"{API}/invoices", headers=headers).status_code == 200

    result = app.test_cli_runner().invoke(args=["apikey", "revoke", "erp"])

    assert result.exit_code == 0 and "revoked" in result.output
    assert_refused(client.get(f"{API}/invoices", headers=headers), "invalid_api_key")
    assert db.scalar(select(ApiKey.revoked_at).where(ApiKey.name == "erp")) is not None


def test_revoking_one_key_leaves_the_others_working(app, client, db):
    old, new = create_key_with_cli(app, "erp-2025"), create_key_with_cli(app, "erp-2026")

    app.test_cli_runner().invoke(args=["apikey", "revoke", "erp-2025"])

    assert client.get(f"{API}/invoices", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert client.get(f"{API}/invoices", headers={"Authorization": f"Bearer {new}"}).status_code == 200


def test_the_cli_prints_a_new_key_once_and_the_database_keeps_only_its_hash(app, db):
    result = app.test_cli_runner().invoke(args=["apikey", "create", "erp"])
    key = result.output.strip().splitlines()[-1]

    assert result.exit_code == 0
    assert key.startswith("acq_") and len(key) >= 40
    assert result.output.count(key) == 1
    stored = db.scalar(select(ApiKey).where(ApiKey.name == "erp"))
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert stored.prefix == key[:10]
    assert all(key not in str(value) for value in db.execute(select(ApiKey.__table__)).one())


def test_the_cli_refuses_a_second_key_of_the_same_name_and_prints_no_key(app, db):
    create_key_with_cli(app, "erp")

    result = app.test_cli_runner().invoke(args=["apikey", "create", "erp"])

    assert result.exit_code != 0
    assert "exists already" in result.output and "acq_" not in result.output
    assert len(db.scalars(select(ApiKey)).all()) == 1


def test_revoking_a_key_that_does_not_exist_fails_with_a_message(app, db):
    result = app.test_cli_runner().invoke(args=["apikey", "revoke", "nobody"])

    assert result.exit_code != 0 and "no key is named 'nobody'" in result.output


# --- The key never reaches a log ---------------------------------------------------------------


@contextmanager
def served(app):
    """The app behind a real HTTP server (werkzeug's, which logs each request) on 127.0.0.1."""
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=10)


def http_request(port: int, method: str, path: str, key: str, body=None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_no_log_line_carries_a_key_valid_or_not_even_when_a_request_fails(app, db, api_key, caplog, capfd,
                                                                            monkeypatch):
    wrong_key = api_key[:-6] + "WRONG0"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="werkzeug")
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")

    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    with served(app) as port:
        statuses = [
            http_request(port, "PUT", f"{API}/companies/ACME", api_key, {"name": "Acme SAS"}),
            http_request(port, "GET", f"{API}/invoices?company=ACME", api_key),
            http_request(port, "PUT", f"{API}/invoices/INV-1", api_key, {"company_ref": "ACME"}),
            http_request(port, "GET", f"{API}/invoices", wrong_key),
            http_request(port, "GET", f"{API}/invoices/INV-404", api_key),
        ]
        monkeypatch.setattr("portal.blueprints.api.views.api_queries.invoice_by_number", broken)
        statuses.append(http_request(port, "GET", f"{API}/invoices/INV-1", api_key))

    assert statuses == [201, 200, 422, 401, 404, 500]
    logged = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [caplog.text]
        + list(capfd.readouterr())
    )
    # The capture did see the requests, the failure and its traceback.
    assert "GET /api/v1/invoices?company=ACME" in logged
    assert "Unhandled error on GET /api/v1/invoices/INV-1" in logged and "the database went away" in logged
    assert api_key not in logged
    assert wrong_key not in logged
    assert api_key[4:] not in logged
