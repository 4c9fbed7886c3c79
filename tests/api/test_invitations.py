"""Inviting a customer's clerk through the API: a real e-mail with a one-time link, which
lets them choose a password and lands them signed in on their invoices.
"""

import re

import pytest
from sqlalchemy import select

from portal.models import Role, User

LINK = re.compile(r"http://portal\.test(/invitation/[\w.\-]+)")
PASSWORD = "a long enough password"


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def acme(erp):
    assert erp.put("/companies/ACME", {"name": "Acme SAS", "locale": "en"}).status_code == 201


def invite(erp, email: str, role: str = "payer", company: str = "ACME"):
    return erp.post(f"/companies/{company}/users", {"email": email, "role": role})


def links_sent_to(smtp_server, address: str) -> list[str]:
    return [LINK.search(message.text_body()).group(1) for message in smtp_server.messages
            if message.recipients == [address]]


def accept(client, path: str, password: str = PASSWORD):
    # Signed out, a visitor reads the pages in their browser's language.
    return client.post(path, data={"password": password, "confirm": password}, headers={"Accept-Language": "en"})


def test_an_invitation_e_mails_a_link_that_opens_the_account_signed_in_on_the_invoices(
        erp, client, db, smtp_server, acme):
    response = invite(erp, "Clerk@Acme.test")

    assert response.status_code == 201
    assert response.get_json() == {"email": "clerk@acme.test", "role": "payer", "company_ref": "ACME",
                                   "outcome": "invited"}
    [message] = smtp_server.messages
    assert message.recipients == ["clerk@acme.test"]
    assert "Acme SAS" in message.text_body()
    [path] = links_sent_to(smtp_server, "clerk@acme.test")

    page = client.get(path)
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    accepted = accept(client, path)

    assert accepted.status_code == 303 and accepted.headers["Location"].endswith("/invoices")
    invoices = client.get("/invoices")
    assert invoices.status_code == 200
    user = db.scalar(select(User).where(User.email == "clerk@acme.test"))
    assert (user.company.external_ref, user.role, user.password_hash is not None) == ("ACME", Role.PAYER, True)
    client.post("/logout")
    assert client.post("/login", data={"email": "clerk@acme.test", "password": PASSWORD}).status_code == 303


def test_an_invitation_link_works_once(erp, client, smtp_server, acme):
    invite(erp, "clerk@acme.test")
    [path] = links_sent_to(smtp_server, "clerk@acme.test")
    accept(client, path)
    client.post("/logout")

    again = accept(client, path, "someone else's password")

    assert again.status_code == 400
    assert "This invitation was already used, or a newer one replaced it." in again.get_data(as_text=True)
    assert client.post("/login", data={"email": "clerk@acme.test", "password": "someone else's password"}
                       ).status_code != 303


def test_inviting_again_before_acceptance_sends_a_fresh_link_and_the_old_one_stops_working(
        erp, client, db, smtp_server, acme):
    invite(erp, "clerk@acme.test", role="viewer")

    again = invite(erp, "clerk@acme.test", role="admin")

    assert (again.status_code, again.get_json()["outcome"], again.get_json()["role"]) == (200, "reinvited", "admin")
    old, fresh = links_sent_to(smtp_server, "clerk@acme.test")
    assert old != fresh
    assert accept(client, old).status_code == 400
    assert accept(client, fresh).status_code == 303
    assert len(db.scalars(select(User).where(User.email == "clerk@acme.test")).all()) == 1


def test_inviting_someone_who_already_accepted_changes_nothing_and_sends_nothing(erp, client, smtp_server, acme):
    invite(erp, "clerk@acme.test")
    accept(client, links_sent_to(smtp_server, "clerk@acme.test")[0])

    again = invite(erp, "clerk@acme.test", role="admin")

    assert (again.status_code, again.get_json()["outcome"], again.get_json()["role"]) == (200, "unchanged", "payer")
    assert len(smtp_server.messages) == 1


def test_a_weak_password_is_refused_and_the_link_still_works(erp, client, smtp_server, acme):
    invite(erp, "clerk@acme.test")
    [path] = links_sent_to(smtp_server, "clerk@acme.test")

    assert accept(client, path, "short").status_code == 400
    assert accept(client, path).status_code == 303


def test_the_address_of_another_company_clerk_or_of_staff_is_refused_with_409(erp, make, db, smtp_server, acme):
    other = make.user(make.company(ref="GLOBEX"), email="buyer@globex.test")
    staff = make.staff(email="collections@supplier.test")
    db.commit()

    for address in (other.email, "Buyer@Globex.test", staff.email):
        response = invite(erp, address)
        assert response.status_code == 409
        assert (response.get_json()["error"]["code"], response.get_json()["error"]["field"]) == ("email_taken", "email")
    assert smtp_server.messages == []
    db.refresh(other)
    assert other.company.external_ref == "GLOBEX"


def test_an_invitation_to_an_unknown_company_or_with_an_unknown_role_is_refused(erp, smtp_server, acme):
    unknown = invite(erp, "clerk@nowhere.test", company="NOWHERE")
    bad_role = invite(erp, "clerk@acme.test", role="owner")
    bad_address = invite(erp, "clerk@acme.test\r\nBcc: everyone@acme.test")

    assert unknown.status_code == 404
    assert (bad_role.status_code, bad_role.get_json()["error"]["field"]) == (422, "role")
    assert (bad_address.status_code, bad_address.get_json()["error"]["field"]) == (422, "email")
    assert smtp_server.messages == []
