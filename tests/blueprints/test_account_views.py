"""A company admin's pages (users and roles, billing recipients) and every user's profile, over HTTP
with a real SMTP server: invitations arrive, and a bad invitation link is refused saying why."""

import re
import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select

from portal.accounts.recipients import recipients_for
from portal.models import AuditEvent, InvoiceFormat, RecipientPurpose, Role, User
from tests.blueprints.pages import table_rows, visible_text

LINK = re.compile(r"http://portal\.test(/invitation/[\w.\-]+)")
PASSWORD = "a long enough password"

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def acme(make):
    return make.company(name="Acme SAS", locale="en", billing_emails=["ap@acme.test"])


@pytest.fixture
def admin(make, acme):
    admin = make.user(acme, role=Role.ADMIN, email="admin@acme.test")
    admin.full_name = "Ada Admin"
    return admin


@pytest.fixture
def admin_client(db, login_as, admin):
    db.commit()
    return login_as(admin)


def invitation_path(smtp_server, address: str) -> str:
    [message] = [m for m in smtp_server.messages if m.recipients == [address]][-1:]
    return LINK.search(message.text_body()).group(1)


def accept(client, path: str, password: str = PASSWORD):
    return client.post(path, data={"password": password, "confirm": password})


def user_with(db, email: str) -> User:
    db.expire_all()
    return db.scalar(select(User).where(User.email == email))


# --- Invitations ---------------------------------------------------------------------------


def test_an_admin_invites_a_colleague_who_accepts_from_the_email(admin_client, client, db, smtp_server):
    response = admin_client.post("/account/users", data={"email": "Clerk@Acme.test", "role": "viewer"})

    assert response.status_code == 303
    [message] = smtp_server.messages
    assert message.recipients == ["clerk@acme.test"]
    assert "Ada Admin invites you to join Acme SAS" in " ".join(message.text_body().split())
    assert "Invitation sent to clerk@acme.test." in visible_text(client.get("/account/users"))

    client.post("/logout")
    accepted = accept(client, invitation_path(smtp_server, "clerk@acme.test"))

    assert accepted.status_code == 303 and accepted.headers["Location"] == "/invoices"
    clerk = user_with(db, "clerk@acme.test")
    assert (clerk.company.name, clerk.role, clerk.is_active) == ("Acme SAS", Role.VIEWER, True)


def test_an_expired_invitation_is_refused_saying_it_expired(admin_client, client, smtp_server, monkeypatch, app):
    admin_client.post("/account/users", data={"email": "late@acme.test", "role": "payer"})
    client.post("/logout")
    path = invitation_path(smtp_server, "late@acme.test")
    days = app.config["ACQUIT_INVITATION_MAX_AGE"] // 86400
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) + (days + 1) * 86400)

    for response in (client.get(path), accept(client, path)):
        assert response.status_code == 400
        assert "This invitation has expired. Ask the person who invited you to invite you again." in visible_text(
            response)
    assert client.post("/login", data={"email": "late@acme.test", "password": PASSWORD}).status_code != 303


def test_a_used_invitation_is_refused_saying_it_was_used(admin_client, client, db, smtp_server):
    admin_client.post("/account/users", data={"email": "once@acme.test", "role": "payer"})
    client.post("/logout")
    path = invitation_path(smtp_server, "once@acme.test")
    assert accept(client, path).status_code == 303
    client.post("/logout")

    again = accept(client, path, "someone else's password")

    assert again.status_code == 400
    assert "This invitation was already used, or a newer one replaced it." in visible_text(again)
    assert client.post("/login", data={"email": "once@acme.test", "password": "someone else's password"}
                       ).status_code != 303


@pytest.mark.parametrize("tamper", [
    lambda path: path[:-3] + ("aaa" if not path.endswith("aaa") else "bbb"),
    lambda path: path.replace("/invitation/", "/invitation/x"),
    lambda path: path[: len(path) // 2],
], ids=["signature", "payload", "truncated"])
def test_a_tampered_invitation_link_is_refused_saying_it_is_not_valid(admin_client, client, smtp_server, tamper):
    admin_client.post("/account/users", data={"email": "new@acme.test", "role": "payer"})
    client.post("/logout")

    response = accept(client, tamper(invitation_path(smtp_server, "new@acme.test")))

    assert response.status_code == 400
    assert "This invitation link is not valid." in visible_text(response)


def test_an_invitation_is_withdrawn_when_the_admin_disables_the_invitee(admin_client, client, db, smtp_server):
    admin_client.post("/account/users", data={"email": "gone@acme.test", "role": "payer"})
    path = invitation_path(smtp_server, "gone@acme.test")
    admin_client.post(f"/account/users/{user_with(db, 'gone@acme.test').id}/disable")
    client.post("/logout")

    response = accept(client, path)

    assert response.status_code == 400
    assert "This invitation was withdrawn." in visible_text(response)


def test_inviting_a_clerk_of_another_company_is_refused_and_sends_nothing(admin_client, make, db, smtp_server):
    make.user(make.company(), email="taken@other.test")
    db.commit()

    response = admin_client.post("/account/users", data={"email": "taken@other.test", "role": "payer"})

    assert response.status_code == 409
    assert "This address belongs to an account outside your company." in visible_text(response)
    assert smtp_server.messages == []


@pytest.mark.parametrize("data", [{"email": "not an address", "role": "payer"}, {"email": "a@acme.test", "role": "owner"},
                                  {"email": "", "role": "payer"}])
def test_a_bad_invitation_form_is_refused_and_sends_nothing(admin_client, smtp_server, data):
    response = admin_client.post("/account/users", data=data)

    assert response.status_code == 400
    assert smtp_server.messages == []


# --- Roles and disabling ---------------------------------------------------------------------


def test_the_users_page_lists_the_colleagues_and_shows_the_permission_matrix(admin_client, make, acme, db):
    make.user(acme, role=Role.VIEWER, email="viewer@acme.test")
    make.user(acme, role=Role.PAYER, email="left@acme.test", active=False)
    make.user(acme, role=Role.PAYER, email="invited@acme.test").password_hash = None
    make.user(make.company(), role=Role.ADMIN, email="someone@other.test")
    db.commit()

    response = admin_client.get("/account/users")

    people = [(row[0].split()[-2 if "you" in row[0] else -1], row[2]) for row in table_rows(response, "people")]
    assert people == [("admin@acme.test", "Active"), ("invited@acme.test", "Invited, not yet accepted"),
                      ("viewer@acme.test", "Active"), ("left@acme.test", "Disabled")]
    matrix = {row[0]: row[1:] for row in table_rows(response, "matrix")}
    assert matrix["Pay invoices"] == ["✓ yes", "✓ yes", "— no"]
    assert matrix["Invite users, change roles, disable users"] == ["✓ yes", "— no", "— no"]
    assert matrix["Set the amount above which payments wait for approval"] == ["✓ yes", "— no", "— no"]
    assert matrix["Export invoices and payments (CSV)"] == ["✓ yes", "— no", "✓ yes"]
    assert len(matrix) == 13


def test_an_admin_changes_a_colleagues_role(admin_client, make, acme, db):
    payer = make.user(acme, role=Role.PAYER)
    db.commit()

    response = admin_client.post(f"/account/users/{payer.id}/role", data={f"user-{payer.id}-role": "viewer"})

    assert response.status_code == 303
    assert user_with(db, payer.email).role == Role.VIEWER
    assert db.scalar(select(AuditEvent.details).where(AuditEvent.action == "user.role_changed")) == {
        "email": payer.email, "role": "viewer", "previous_role": "payer"}


@pytest.mark.parametrize("change", ["demote", "disable"])
def test_the_last_admin_cannot_demote_or_disable_themselves(admin_client, admin, db, change):
    url, data = {"demote": (f"/account/users/{admin.id}/role", {f"user-{admin.id}-role": "payer"}),
                 "disable": (f"/account/users/{admin.id}/disable", {})}[change]

    response = admin_client.post(url, data=data)

    assert response.status_code == 409
    assert "Your company needs at least one active administrator" in visible_text(response)
    still = user_with(db, admin.email)
    assert (still.role, still.is_active) == (Role.ADMIN, True)


def test_with_a_second_admin_an_admin_may_step_down(admin_client, admin, make, acme, db):
    make.user(acme, role=Role.ADMIN)
    db.commit()

    response = admin_client.post(f"/account/users/{admin.id}/role", data={f"user-{admin.id}-role": "payer"})

    assert response.status_code == 303
    assert user_with(db, admin.email).role == Role.PAYER
    assert admin_client.get("/account/users").status_code == 403


def test_a_disabled_colleague_is_signed_out_at_once_and_cannot_sign_in(admin_client, app, make, acme, db):
    payer = make.user(acme, role=Role.PAYER)
    db.commit()
    their_browser = app.test_client()
    assert their_browser.post("/login", data={"email": payer.email, "password": make.PASSWORD}).status_code == 303

    admin_client.post(f"/account/users/{payer.id}/disable")

    assert their_browser.get("/invoices").status_code == 302
    assert their_browser.post("/login", data={"email": payer.email, "password": make.PASSWORD}).status_code != 303

    admin_client.post(f"/account/users/{payer.id}/enable")
    assert their_browser.post("/login", data={"email": payer.email, "password": make.PASSWORD}).status_code == 303


# --- Billing recipients ----------------------------------------------------------------------


def test_an_admin_adds_a_recipient_choosing_what_it_receives(admin_client, acme, db):
    response = admin_client.post("/account/recipients", data={
        "email": "Books@Acme.test", "purposes": ["invoices", "statements"], "invoice_format": "facturx"})

    assert response.status_code == 303
    assert [(r.email, r.invoice_format) for r in recipients_for(db, acme.id, RecipientPurpose.STATEMENTS)] == [
        ("ap@acme.test", InvoiceFormat.PDF), ("books@acme.test", InvoiceFormat.FACTURX)]
    assert [r.email for r in recipients_for(db, acme.id, RecipientPurpose.RECEIPTS)] == ["ap@acme.test"]


def test_an_admin_changes_and_removes_a_recipient(admin_client, acme, db):
    [recipient] = acme.recipients
    prefix = f"recipient-{recipient.id}"

    response = admin_client.post(f"/account/recipients/{recipient.id}", data={
        f"{prefix}-purposes": ["receipts"], f"{prefix}-invoice_format": "link"})

    assert response.status_code == 303
    assert [r.email for r in recipients_for(db, acme.id, RecipientPurpose.INVOICES)] == []
    assert [(r.email, r.invoice_format) for r in recipients_for(db, acme.id, RecipientPurpose.RECEIPTS)] == [
        ("ap@acme.test", InvoiceFormat.LINK)]

    assert admin_client.post(f"/account/recipients/{recipient.id}/remove").status_code == 303
    assert recipients_for(db, acme.id, RecipientPurpose.RECEIPTS) == []


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"email": "ap@acme.test", "purposes": ["invoices"], "invoice_format": "pdf"}, 409,
     "This address is already a recipient."),
    ({"email": "new@acme.test", "invoice_format": "pdf"}, 400, "Choose at least one kind of e-mail."),
    ({"email": "nope", "purposes": ["invoices"], "invoice_format": "pdf"}, 400, "Enter an e-mail address."),
    ({"email": "new@acme.test", "purposes": ["invoices"], "invoice_format": "docx"}, 400, None),
])
def test_a_bad_recipient_is_refused_clearly_and_nothing_changes(admin_client, acme, db, data, status, message):
    response = admin_client.post("/account/recipients", data=data)

    assert response.status_code == status
    if message:
        assert message in visible_text(response)
    assert [r.email for r in recipients_for(db, acme.id, RecipientPurpose.INVOICES)] == ["ap@acme.test"]


# --- Every user's profile --------------------------------------------------------------------


def test_a_user_sets_their_name_and_language_and_the_pages_follow_it(login_as, make, acme, db, client):
    payer = make.user(acme, role=Role.PAYER)
    db.commit()
    login_as(payer)

    response = client.post("/account", data={"full_name": "  Marie   Curie ", "locale": "fr"})

    assert response.status_code == 303
    assert (user_with(db, payer.email).full_name, user_with(db, payer.email).locale) == ("Marie Curie", "fr")
    assert "Mon profil" in visible_text(client.get("/account"))


def test_a_bad_language_is_refused(login_as, make, acme, db, client):
    payer = make.user(acme, role=Role.PAYER, locale="en")
    db.commit()
    login_as(payer)

    assert client.post("/account", data={"full_name": "X", "locale": "de"}).status_code == 400
    assert user_with(db, payer.email).locale == "en"


def test_the_profile_lists_the_users_own_payments_and_disputes_only(app, login_as, make, acme, db, client):
    from portal.blueprints.app_services import services

    payer, colleague = make.user(acme, role=Role.PAYER), make.user(acme, role=Role.PAYER)
    mine, theirs = make.invoice(acme, number="INV-MINE"), make.invoice(acme, number="INV-THEIRS")
    with app.app_context():
        disputes = services().disputes
    make.dispute(disputes, mine, payer)
    make.dispute(disputes, theirs, colleague)
    db.commit()
    login_as(payer)

    text = visible_text(client.get("/account"))

    assert "INV-MINE" in text and "INV-THEIRS" not in text
    assert "You have made no payment." in text
