"""NUL characters in forms, query strings and paths answer 400 with a clear word, never a 500.

PostgreSQL's text cannot hold NUL ("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
so on PostgreSQL (scripts/test-postgres) a NUL that reached a query was a 500; SQLite stored
it. The whole HTML surface is fuzzed in test_form_fuzz.py; these are the cases named in
issue 18, sign-in first.
"""

import pytest

from portal.models import AuditEvent

pytestmark = pytest.mark.usefixtures("english")

NUL = "\x00"
REFUSED = "contains a character that cannot be stored"


def test_signing_in_with_a_nul_in_the_email_or_password_is_refused_with_400(client, make, db):
    user = make.user(make.company(), email="nul@customer.test")

    for data in ({"email": user.email + NUL, "password": "x"},
                 {"email": user.email, "password": "correct" + NUL},
                 {"email": NUL, "password": NUL},
                 {"email" + NUL: user.email, "password": "x"}):
        response = client.post("/login", data=data)
        assert response.status_code == 400, (data, response.status_code)
        assert REFUSED in response.get_data(as_text=True)
    # The session was not signed in meanwhile.
    assert client.get("/invoices").status_code in (302, 303)


@pytest.mark.parametrize("path", ["/login?next=%00", "/invoices?q=%00", "/invoices?po=A%00B", "/invoices?status=%00",
                                  "/?lang=%00", "/forgot-password?email=%00", "/invoices?%00=1",
                                  "/pay/abc%00def", "/invoices/1%00"])
def test_a_nul_in_a_query_string_or_path_gets_400(client, make, login_as, path):
    login_as(make.user(make.company()))

    response = client.get(path)

    assert response.status_code in (400, 404), (path, response.status_code)


def test_a_nul_in_a_form_is_refused_before_anything_is_written(client, make, db):
    make.user(make.company(), email="payer@nul.test")
    before = db.query(AuditEvent).count()

    response = client.post("/forgot-password", data={"email": "payer" + NUL + "@nul.test"})

    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)
    assert db.query(AuditEvent).count() == before


def test_the_api_is_left_to_check_its_own_input(client):
    # The API answers in its own vocabulary (422 naming the field): the HTML refusal leaves it alone.
    response = client.get("/api/v1/invoices?po_number=A%00B")

    assert response.status_code == 401  # no key; the API's own checks ran, not the HTML refusal
    assert response.get_json()["error"]["code"] == "unauthenticated"
