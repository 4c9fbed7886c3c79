"""The request id and the request line, read from what the portal really writes to stderr;
and what never reaches the log: passwords, signed links' tokens, query strings."""

import json
import logging
import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from portal.blueprints.app_services import services
from portal.db import make_engine
from portal.guest.links import PayLinks
from portal.payments import fake_gateway
from portal.request_log import loggable_path
from portal.services import services_of
from tests.conftest import TEST_SECRET_KEY
from tests.guest.conftest import attempt_key_on, setup_id_on

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def app_overrides():
    return {"ACQUIT_LOG_FORMAT": "json"}


@pytest.fixture
def english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"


def log_lines(capfd) -> list[dict]:
    """Every line the portal wrote to stderr since the last call, each parsed as JSON (it must be)."""
    return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.strip()]


def request_lines(capfd) -> list[dict]:
    return [entry for entry in log_lines(capfd) if entry["logger"] == "portal.request_log"]


def test_the_response_echoes_a_sane_incoming_request_id_and_the_request_line_carries_it(client, capfd):
    capfd.readouterr()
    response = client.get("/healthz?probe=lb-1", headers={"X-Request-Id": "lb-7f3a-0001"},
                          environ_base={"REMOTE_ADDR": "203.0.113.9"})

    assert response.headers["X-Request-Id"] == "lb-7f3a-0001"
    [line] = request_lines(capfd)
    assert {key: line[key] for key in ("level", "request_id", "method", "path", "status", "remote_addr")} == {
        "level": "INFO", "request_id": "lb-7f3a-0001", "method": "GET", "path": "/healthz", "status": 200,
        "remote_addr": "203.0.113.9"}
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "probe" not in json.dumps(line)


def test_without_a_sane_request_id_each_request_gets_a_new_one(client, capfd):
    capfd.readouterr()
    first = client.get("/healthz").headers["X-Request-Id"]
    second = client.get("/healthz", headers={"X-Request-Id": "two words <b>\"quoted\"</b>"}).headers["X-Request-Id"]

    assert re.fullmatch("[0-9a-f]{32}", first) and re.fullmatch("[0-9a-f]{32}", second) and first != second
    assert [line["request_id"] for line in request_lines(capfd)] == [first, second]


def test_every_record_written_during_a_request_carries_its_id(app, db, capfd):
    @app.route("/test-only/logs")
    def logs_twice():
        logging.getLogger("portal.billing").info("working on it")
        logging.getLogger("portal.mail").warning("mail server slow")
        return "done"

    capfd.readouterr()
    app.test_client().get("/test-only/logs", headers={"X-Request-Id": "trace-1"})

    lines = log_lines(capfd)
    assert [(line["logger"], line["request_id"]) for line in lines] == [
        ("portal.billing", "trace-1"), ("portal.mail", "trace-1"), ("portal.request_log", "trace-1")]


def test_an_error_answer_is_logged_with_its_status(client, capfd):
    capfd.readouterr()
    client.get("/no-such-page")
    [line] = request_lines(capfd)
    assert (line["path"], line["status"]) == ("/no-such-page", 404)


def test_a_guest_paying_from_a_pay_now_link_leaves_no_token_in_the_log(client, make, app, capfd):
    invoice = make.invoice(make.company(locale="en"), number="INV-LOG-1", total=12_300)
    token = PayLinks(TEST_SECRET_KEY, "http://portal.test", valid_for=timedelta(days=30)).link_for(invoice).token
    capfd.readouterr()

    page = client.get(f"/pay/{token}?lang=en&utm_source=email").get_data(as_text=True)
    services_of(app).payments.gateway.complete_setup(setup_id_on(page), fake_gateway.SUCCEEDS)
    paid = client.post(f"/pay/{token}", data={"setup_id": setup_id_on(page), "attempt_key": attempt_key_on(page),
                                              "email": "payer@guest.test"})
    client.get(paid.headers["Location"])
    client.get(f"/pay/{token}/pdf")

    assert paid.status_code == 303
    output = capfd.readouterr().err
    assert token not in output and "utm_source" not in output
    paths = [json.loads(line)["path"] for line in output.splitlines() if '"portal.request_log"' in line]
    payment_id = paid.headers["Location"].rsplit("/", 1)[1]
    assert paths == ["/pay/:token", "/pay/:token", f"/pay/:token/payments/{payment_id}", "/pay/:token/pdf"]


def test_signing_in_and_resetting_a_password_leave_no_password_or_token_in_the_log(client, make, app, capfd):
    clerk = make.user(make.company(locale="en"), email="clerk@log.test")
    with app.test_request_context():
        reset_path = services().set_password_links.reset_url(clerk).removeprefix("http://portal.test")
    reset_token = reset_path.rsplit("/", 1)[1]
    capfd.readouterr()

    client.post("/login", data={"email": clerk.email, "password": "a wrong guess at it"})
    client.post("/login?next=/invoices", data={"email": clerk.email, "password": make.PASSWORD})
    client.post("/logout")
    client.post("/forgot-password", data={"email": clerk.email})
    client.get(reset_path)
    client.post(reset_path, data={"password": "another long passphrase", "confirm": "another long passphrase"})

    output = capfd.readouterr().err
    for secret in ("a wrong guess at it", make.PASSWORD, "another long passphrase", reset_token, "next="):
        assert secret not in output
    paths = [json.loads(line)["path"] for line in output.splitlines() if '"portal.request_log"' in line]
    assert paths == ["/login", "/login", "/logout", "/forgot-password", "/reset-password/:token",
                     "/reset-password/:token"]


def test_an_unhandled_error_on_a_tokens_page_logs_the_path_without_the_token(app, db, capfd):
    @app.route("/test-only/<token>/fails")
    def fails(token):
        raise RuntimeError("the database went away")

    capfd.readouterr()
    response = app.test_client().get("/test-only/eyJpbnZvaWNlIjo0Mn0.signed-part-of-the-link/fails")

    assert response.status_code == 500
    output = capfd.readouterr().err
    assert "signed-part-of-the-link" not in output
    [error] = [line for line in map(json.loads, output.splitlines()) if line["logger"] == "portal.errors"]
    assert error["message"] == "Unhandled error on GET /test-only/:token/fails"
    assert "RuntimeError: the database went away" in error["exception"]


def test_a_path_that_matches_no_route_loses_any_segment_long_enough_to_be_a_token():
    app = Flask(__name__)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/pay/" + "x" * 60 + "/pdfx", "SERVER_NAME": "portal.test",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    assert loggable_path(app.url_map, environ) == "/pay/:redacted/pdfx"


def test_every_route_argument_is_either_shown_or_known_as_a_secret(app):
    """A new route whose URL carries a credential must add it to SECRET_ROUTE_ARGUMENTS, or it is logged."""
    from portal.request_log import SECRET_ROUTE_ARGUMENTS

    # `key` is a custom field's name in the API (/api/v1/custom-fields/<key>), not an API key.
    shown = {"approval_id", "attachment_id", "card_id", "credit_note_id", "dispute_id", "field_id", "file_format",
             "filename", "invoice_id", "key", "message_id", "number", "payment_id", "recipient_id", "ref", "staff_id",
             "user_id"}
    arguments = {argument for rule in app.url_map.iter_rules() for argument in rule.arguments}
    assert arguments - shown - SECRET_ROUTE_ARGUMENTS == set()


def test_a_database_error_logged_with_its_statement_leaves_out_the_parameters(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'errors.sqlite3'}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE message (body TEXT NOT NULL UNIQUE)")
            connection.execute(text("INSERT INTO message (body) VALUES (:body)"), {"body": "pay at /pay/SECRET-TOKEN"})
        with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
            connection.execute(text("INSERT INTO message (body) VALUES (:body)"), {"body": "pay at /pay/SECRET-TOKEN"})
    finally:
        engine.dispose()
    assert "INSERT INTO message" in str(raised.value)
    assert "SECRET-TOKEN" not in str(raised.value)
