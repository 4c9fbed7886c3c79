"""While the database does not answer (restarting, failing over), a request is told to try again in a
moment: 503 with Retry-After, a page in words or the API's JSON error, never a 500 and its traceback.

tests/faults/test_postgres_restart.py shows the same against a real PostgreSQL server stopped
under the running portal."""

import logging

import pytest

from portal.app import create_app
from tests.conftest import app_config


@pytest.fixture
def unreachable(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'acquit.sqlite3'}"
    return create_app(app_config(url, ACQUIT_ATTACHMENT_DIR=str(tmp_path))).test_client()


def test_a_page_that_needs_the_database_says_to_try_again_in_a_moment(unreachable, caplog):
    with caplog.at_level(logging.WARNING):
        page = unreachable.get("/pay/some-pay-now-token", headers={"Accept-Language": "en"})

    assert (page.status_code, page.headers["Retry-After"]) == (503, "5")
    assert "our database did not answer. Please try again in a moment." in page.get_data(as_text=True)
    assert "Database unavailable on GET /pay/some-pay-now-token" in caplog.text
    # An outage is one line per request in the log, not a traceback taken for a bug.
    assert "Traceback" not in caplog.text and "Unhandled error" not in caplog.text


def test_an_api_write_is_answered_503_unavailable_in_json(unreachable):
    # A well-formed key: checking it is the first thing that needs the database.
    answer = unreachable.put("/api/v1/invoices/INV-1", json={}, headers={"Authorization": "Bearer acq_some-key"})

    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "5")
    assert answer.get_json()["error"]["code"] == "unavailable"


def test_a_signed_in_page_says_it_in_the_browsers_language_since_the_account_cannot_be_read(unreachable):
    # The person's language is in their account, in the database that does not answer.
    with unreachable.session_transaction() as cookie:
        cookie["_user_id"] = "1.0"  # user 1, sessions of version 0

    page = unreachable.get("/invoices", headers={"Accept-Language": "fr"})

    assert page.status_code == 503
    assert "notre base de données n&#39;a pas répondu" in page.get_data(as_text=True)
