"""Staff users: `acquit staff create`, inviting one from the staff page, disabling and enabling one."""

import re

import pytest
from sqlalchemy import select

from portal.accounts.errors import LastActiveStaff, WeakPassword
from portal.accounts.invitations import InvitationConflict
from portal.accounts.staff import create_staff, set_staff_active
from portal.models import AuditEvent, User, UserKind
from tests.blueprints.conftest import english  # noqa: F401  (a fixture)
from tests.blueprints.pages import table_rows, visible_text
from tests.builders import Builders

pytestmark = pytest.mark.usefixtures("english")
LINK = re.compile(r"http://portal\.test(/invitation/[\w.\-]+)")


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def lead(make):
    return make.staff(email="lead@supplier.test", locale="en")


def test_create_staff_from_the_command_line_then_sign_in(app, db, client):
    result = app.test_cli_runner().invoke(args=["staff", "create", "Ops@Supplier.test", "--name", "Ops"],
                                          input="a long enough password\na long enough password\n")

    assert result.exit_code == 0, result.output
    assert "Staff member ops@supplier.test created" in result.output
    user = db.scalar(select(User).where(User.email == "ops@supplier.test"))
    assert (user.kind, user.full_name, user.is_active) == (UserKind.STAFF, "Ops", True)
    signed_in = client.post("/login", data={"email": "ops@supplier.test", "password": "a long enough password"})
    assert signed_in.headers["Location"] == "/collections/"


@pytest.mark.parametrize(("arguments", "message"), [
    (["staff", "create", "lead@supplier.test", "--password", "a long enough password"], "already has an account"),
    (["staff", "create", "new@supplier.test", "--password", "short"], "the password needs at least 10 characters"),
])
def test_the_command_refuses_a_taken_address_or_a_short_password(app, db, lead, arguments, message):
    db.commit()
    result = app.test_cli_runner().invoke(args=arguments)

    assert result.exit_code == 1
    assert message in result.output


def test_create_staff_refuses_a_clerks_address_and_weak_passwords(db, make):
    clerk = make.user(make.company())
    with pytest.raises(InvitationConflict):
        create_staff(db, Builders.ACTOR, email=clerk.email, password="a long enough password")
    with pytest.raises(WeakPassword):
        create_staff(db, Builders.ACTOR, email="x@supplier.test", password="short")


def test_a_staff_invitation_e_mails_a_link_that_opens_the_staff_pages(lead, login_as, client, db, smtp_server):
    login_as(lead)
    response = client.post("/collections/staff/invitations", data={"email": "New@Supplier.test", "full_name": "Nina"})

    assert response.status_code == 303
    assert "Invitation e-mailed to new@supplier.test." in visible_text(client.get("/collections/staff"))
    [message] = smtp_server.messages
    assert message.recipients == ["new@supplier.test"]
    assert "collections pages" in message.text_body()
    path = LINK.search(message.text_body()).group(1)
    client.post("/logout")
    accepted = client.post(path, data={"password": "a long enough password", "confirm": "a long enough password"})
    assert accepted.status_code == 303 and accepted.headers["Location"] == "/collections/"
    assert client.get("/collections/companies").status_code == 200


def test_inviting_a_customers_clerk_as_staff_is_refused(lead, make, login_as, client):
    clerk = make.user(make.company(), email="clerk@customer.test")
    login_as(lead)

    response = client.post("/collections/staff/invitations", data={"email": clerk.email})

    assert response.status_code == 409
    assert "This address belongs to a customer's account." in visible_text(response)


def test_a_disabled_member_is_signed_out_and_cannot_sign_in(app, lead, make, login_as, client, db):
    other = make.staff(email="other@supplier.test")
    other_client = app.test_client()
    assert other_client.post("/login", data={"email": other.email, "password": Builders.PASSWORD}).status_code == 303
    login_as(lead)

    response = client.post(f"/collections/staff/{other.id}/disable")

    assert response.status_code == 303
    rows = table_rows(client.get("/collections/staff"), "staff")
    assert ["other@supplier.test", other.full_name, "Disabled", "Enable"] in rows
    assert other_client.get("/collections/").status_code == 302
    refused = other_client.post("/login", data={"email": other.email, "password": Builders.PASSWORD})
    assert refused.status_code == 200 and "Location" not in refused.headers  # the sign-in page again
    assert db.scalar(select(AuditEvent.action).where(AuditEvent.action == "user.disabled")) == "user.disabled"

    assert client.post(f"/collections/staff/{other.id}/enable").status_code == 303
    assert other_client.post("/login", data={"email": other.email, "password": Builders.PASSWORD}).status_code == 303


def test_the_last_active_member_cannot_be_disabled(db, lead):
    with pytest.raises(LastActiveStaff):
        set_staff_active(db, Builders.ACTOR, lead, active=False)
    assert lead.is_active


def test_a_clerk_is_not_staff_to_disable(lead, make, login_as, client):
    clerk = make.user(make.company())
    login_as(lead)

    assert client.post(f"/collections/staff/{clerk.id}/disable").status_code == 404
