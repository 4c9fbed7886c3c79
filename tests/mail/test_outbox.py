"""The outbox through real SMTP: sent after the request commits, never when it rolls back,
kept and retried when the mail server is away, logged when there is none."""

import logging

import pytest
from sqlalchemy import func, select

from portal.extensions import db as database
from portal.mail import outbox
from portal.mail.compose import ComposedEmail
from portal.models import OutboxMessage
from tests.blueprints.pages import ask_for_a_reset

STATEMENT = ComposedEmail(subject="Your statement", text="Your statement is attached.", html="<p>Your statement.</p>")


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def clerk(make):
    return make.user(make.company(locale="en"), email="ap.clerk@customer.test")


@pytest.fixture
def enqueue_then(app):
    """A route that puts an e-mail in the outbox, then answers with the status asked for (or raises)."""

    def view(outcome: str):
        outbox.enqueue(database.session, ["ap@customer.test"], STATEMENT)
        if outcome == "raise":
            raise RuntimeError("failed after the e-mail was enqueued")
        return "done", int(outcome)

    app.add_url_rule("/_test/enqueue-then/<outcome>", "test_enqueue_then", view, methods=["POST"])
    return lambda client, outcome: client.post(f"/_test/enqueue-then/{outcome}")


def outbox_rows(db) -> list[OutboxMessage]:
    db.expire_all()
    return db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def let_the_backoff_pass(db) -> None:
    """Move every waiting e-mail's next attempt to now, as if the backoff had elapsed."""
    for row in outbox_rows(db):
        if row.next_attempt_at is not None:
            row.next_attempt_at = row.next_attempt_at - outbox.RETRY_AT_MOST
    db.commit()


def deliver_from_the_command_line(app) -> str:
    result = app.test_cli_runner().invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_an_email_enqueued_by_a_committed_request_arrives_over_smtp(client, db, enqueue_then, smtp_server):
    response = enqueue_then(client, "200")

    assert response.status_code == 200
    [received] = smtp_server.messages
    assert received.recipients == ["ap@customer.test"]
    assert received.mail_from == "no-reply@acquit.invalid"
    assert received.message["From"] == "Acquit <no-reply@acquit.invalid>"
    assert received.message["Subject"] == "Your statement"
    assert received.text_body().strip() == "Your statement is attached."
    assert received.message.get_body(preferencelist=("html",)).get_content().strip() == "<p>Your statement.</p>"
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None
    assert f".acquit-{row.id}@" in received.message["Message-ID"]


def test_a_password_reset_email_arrives_with_its_link(client, db, clerk, smtp_server):
    ask_for_a_reset(client, clerk.email)

    [received] = smtp_server.messages
    assert received.recipients == [clerk.email]
    assert "http://portal.test/reset-password/" in received.text_body()
    assert "http://portal.test/reset-password/" in received.message.get_body(preferencelist=("html",)).get_content()
    assert [row.status for row in outbox_rows(db)] == ["sent"]


@pytest.mark.parametrize("outcome", ["400", "409", "422", "raise"])
def test_a_request_that_fails_sends_nothing_and_keeps_nothing(client, db, enqueue_then, smtp_server, outcome):
    response = enqueue_then(client, outcome)

    assert response.status_code == (500 if outcome == "raise" else int(outcome))
    assert smtp_server.messages == []
    assert outbox_rows(db) == []


def test_a_failed_request_does_not_send_its_email_with_the_next_one(client, db, enqueue_then, smtp_server):
    enqueue_then(client, "409")
    enqueue_then(client, "200")

    assert len(smtp_server.messages) == 1
    assert [row.status for row in outbox_rows(db)] == ["sent"]


def test_with_the_smtp_server_away_the_email_waits_and_the_command_sends_it_later(
    app, client, db, clerk, smtp_server
):
    smtp_server.stop()

    response = ask_for_a_reset(client, clerk.email)

    # The person asking is not told about our mail server's troubles...
    assert response.status_code == 303
    # ...the e-mail is kept, with what went wrong.
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert row.last_error.startswith("ConnectionRefusedError")
    assert smtp_server.messages == []

    smtp_server.start()
    # Tried again only once its backoff has passed (a minute after the first failure).
    assert row.next_attempt_at > row.created_at
    assert deliver_from_the_command_line(app) == "0 e-mail(s) sent."
    let_the_backoff_pass(db)
    assert deliver_from_the_command_line(app) == "1 e-mail(s) sent."

    [received] = smtp_server.messages
    assert received.recipients == [clerk.email]
    assert "http://portal.test/reset-password/" in received.text_body()
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)

    # Sent once: running the command again sends nothing more.
    assert deliver_from_the_command_line(app) == "0 e-mail(s) sent."
    assert len(smtp_server.messages) == 1


def test_the_command_gives_up_on_an_email_after_the_maximum_attempts(app, client, db, clerk, smtp_server):
    smtp_server.stop()
    ask_for_a_reset(client, clerk.email)
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        let_the_backoff_pass(db)
        assert deliver_from_the_command_line(app) == "0 e-mail(s) sent."
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", outbox.MAX_ATTEMPTS, None)
    assert outbox.given_up(db) == [row]

    smtp_server.start()

    assert deliver_from_the_command_line(app) == "0 e-mail(s) sent."
    assert smtp_server.messages == []


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_SMTP_HOST": None}])
def test_without_smtp_configured_outside_the_demo_the_log_has_no_link(app, client, db, clerk, caplog):
    with caplog.at_level(logging.WARNING, logger="portal.mail.outbox"):
        response = ask_for_a_reset(client, clerk.email)
        assert deliver_from_the_command_line(app) == "0 e-mail(s) sent."

    assert response.status_code == 303
    logged = [record.getMessage() for record in caplog.records if record.name == "portal.mail.outbox"]
    assert len(logged) == 2 and all("stays in the outbox" in line for line in logged)
    assert "reset-password" not in caplog.text and clerk.email not in caplog.text
    [row] = outbox_rows(db)
    assert (row.status, row.attempts) == ("pending", 0)


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_SMTP_HOST": None, "ACQUIT_DEMO": True}])
def test_without_smtp_configured_the_demo_logs_the_email_and_it_stays_pending(app, client, db, clerk, caplog):
    with caplog.at_level(logging.WARNING, logger="portal.mail.outbox"):
        response = ask_for_a_reset(client, clerk.email)

    assert response.status_code == 303
    [record] = [r for r in caplog.records if r.name == "portal.mail.outbox"]
    logged = record.getMessage()
    assert "No SMTP server configured (ACQUIT_SMTP_HOST)" in logged
    assert f"To: {clerk.email}" in logged
    assert "http://portal.test/reset-password/" in logged
    [row] = outbox_rows(db)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="portal.mail.outbox"):
        assert deliver_from_the_command_line(app) == "0 e-mail(s) sent."
    assert "No SMTP server configured" in caplog.text
    assert db.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")) == 1
