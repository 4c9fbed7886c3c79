"""Mail never blocks and is never lost: a mail server that is down or silent costs a request at
most one SMTP timeout, holds no database transaction or lock meanwhile, and the e-mail waits
in the outbox, retried with backoff, until it goes, or is given up and shown to the staff."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from portal.accounts.api_keys import create_api_key
from portal.extensions import db as database
from portal.mail import outbox
from portal.mail.compose import ComposedEmail
from portal.models import BillingRecipient, InvoiceFormat, OutboxMessage, Role
from tests.builders import Builders
from tests.conftest import migrated_database
from tests.live import engine_of, serve, session_on

STATEMENT = ComposedEmail(subject="Your statement", text="Your statement is attached.", html=None)
TIMEOUT = 3


class SilentSmtpServer:
    """A port that accepts connections and never says a word (a mail server hung, or a firewall
    that swallows packets after the handshake): the kernel completes the connection from the
    listen backlog and nothing ever answers."""

    host = "127.0.0.1"

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((self.host, 0))
        self._socket.listen(64)
        self.port = self._socket.getsockname()[1]

    @property
    def app_config(self) -> dict:
        return {"ACQUIT_SMTP_HOST": self.host, "ACQUIT_SMTP_PORT": self.port, "ACQUIT_SMTP_TIMEOUT": TIMEOUT}

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def silent_smtp():
    server = SilentSmtpServer()
    yield server
    server.close()


def outbox_rows(db) -> list[OutboxMessage]:
    db.expire_all()
    return db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


@pytest.fixture
def enqueue_three(app):
    """A route that puts three e-mails in the outbox and answers 200."""

    def view():
        for n in range(3):
            outbox.enqueue(database.session, [f"ap{n}@customer.test"], STATEMENT)
        return "queued"

    app.add_url_rule("/_test/enqueue-three", "test_enqueue_three", view, methods=["POST"])
    return lambda client: client.post("/_test/enqueue-three")


def test_the_retry_delay_doubles_from_a_minute_up_to_an_hour():
    assert [outbox.retry_delay(attempts) for attempts in range(1, outbox.MAX_ATTEMPTS)] == [
        timedelta(minutes=minutes) for minutes in (1, 2, 4, 8, 16, 32, 60, 60, 60)]


class TestASilentMailServer:
    @pytest.fixture
    def app_overrides(self, silent_smtp):
        return silent_smtp.app_config

    def test_costs_a_request_one_timeout_whatever_it_sent_and_the_mail_waits(self, client, db, enqueue_three):
        began = time.monotonic()
        response = enqueue_three(client)
        took = time.monotonic() - began

        assert response.status_code == 200
        # One timeout, not one per e-mail (with room for a busy machine's own pace).
        assert TIMEOUT <= took < 2 * TIMEOUT, took
        first, *others = outbox_rows(db)
        assert (first.status, first.attempts) == ("pending", 1)
        assert first.last_error.startswith(("TimeoutError", "SMTPServerDisconnected", "socket.timeout"))
        assert first.next_attempt_at is not None
        # The others were not tried: the worker will, once the server answers.
        assert [(row.status, row.attempts) for row in others] == [("pending", 0), ("pending", 0)]


class TestAMailServerThatIsDown:
    @pytest.fixture
    def app_overrides(self, smtp_server):
        return smtp_server.app_config

    def test_delays_the_mail_and_the_worker_sends_each_once_after_the_backoff(self, app, client, db, enqueue_three,
                                                                            smtp_server):
        from portal.jobs.worker import run_outbox_job

        smtp_server.stop()
        began = time.monotonic()
        assert enqueue_three(client).status_code == 200
        assert time.monotonic() - began < 1.5
        smtp_server.start()

        with app.app_context():
            # The never-tried ones go at once; the one that failed waits out its backoff.
            assert run_outbox_job(app) == "2 e-mail(s) sent"
            assert run_outbox_job(app) == "0 e-mail(s) sent"
            waiting = outbox_rows(db)[0]
            waiting.next_attempt_at = waiting.next_attempt_at - outbox.FIRST_RETRY_AFTER
            db.commit()
            assert run_outbox_job(app) == "1 e-mail(s) sent"

        assert sorted(message.recipients[0] for message in smtp_server.messages) == [
            "ap0@customer.test", "ap1@customer.test", "ap2@customer.test"]
        assert {(row.status, row.claimed_at) for row in outbox_rows(db)} == {("sent", None)}


class TestGivenUpMail:
    @pytest.fixture
    def app_overrides(self, smtp_server):
        return smtp_server.app_config

    @pytest.fixture
    def given_up(self, db):
        message = outbox.enqueue(db, ["nobody@customer.test"], STATEMENT)
        message.status, message.attempts = "failed", outbox.MAX_ATTEMPTS
        message.last_error = "SMTPRecipientsRefused: {'nobody@customer.test': (550, b'No such user')}"
        outbox.take_enqueued_ids(db)
        db.commit()
        return message

    def test_shows_on_the_staff_attention_list_and_is_sent_again_on_request(self, client, db, make, login_as,
                                                                            given_up, smtp_server):
        login_as(make.staff(locale="en"))

        page = client.get("/collections/attention?lang=en").get_data(as_text=True)
        assert "E-mails not sent" in page
        assert "nobody@customer.test" in page and "No such user" in page

        response = client.post(f"/collections/mail/{given_up.id}/send-again")

        assert response.status_code == 303
        assert [message.recipients for message in smtp_server.messages] == [["nobody@customer.test"]]
        [row] = outbox_rows(db)
        assert (row.status, row.attempts) == ("sent", 1)
        assert "E-mails not sent" not in client.get("/collections/attention?lang=en").get_data(as_text=True)

    def test_a_message_that_is_not_given_up_cannot_be_sent_again(self, client, db, make, login_as, given_up):
        login_as(make.staff(locale="en"))
        pending = outbox.enqueue(db, ["ap@customer.test"], STATEMENT)
        outbox.take_enqueued_ids(db)
        db.commit()

        for message_id in (pending.id, 999999):
            response = client.post(f"/collections/mail/{message_id}/send-again?lang=en", follow_redirects=True)
            assert "That e-mail is not waiting to be sent again." in response.get_data(as_text=True)
        assert [(row.status, row.attempts) for row in outbox_rows(db)] == [("failed", outbox.MAX_ATTEMPTS),
                                                                            ("pending", 0)]

    def test_clerks_cannot_send_mail_again(self, client, make, login_as, given_up):
        login_as(make.user(make.company(), role=Role.ADMIN))

        assert client.post(f"/collections/mail/{given_up.id}/send-again").status_code in (302, 303, 403, 404)


# --- Over real HTTP, with real commits: no lock is held while the mail server says nothing --------


@pytest.fixture(scope="module")
def silent_for_the_live_server():
    server = SilentSmtpServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, silent_for_the_live_server):
    config = silent_for_the_live_server.app_config
    with serve(migrated_database(tmp_path_factory, "mail-never-blocks"), "mail-never-blocks", **config) as server:
        yield server


def test_other_requests_write_while_one_waits_on_a_silent_mail_server(live):
    with engine_of(live) as engine, session_on(engine) as session:
        _, key = create_api_key(session, "erp")
        company = Builders(session).company(ref="MAIL-BLOCK", billing_emails=["ap@mail-block.test"])
        # The link only: an e-mail with a document attached is the worker's to send, not the request's.
        session.execute(update(BillingRecipient).where(BillingRecipient.company_id == company.id)
                        .values(invoice_format=InvoiceFormat.LINK))
        session.commit()
        headers = {"Authorization": f"Bearer {key}"}
        invoice = {"company_ref": "MAIL-BLOCK", "issue_date": "2026-11-01", "due_date": "2026-12-01",
                   "currency": "EUR", "lines": [{"description": "Pallets", "quantity": "1", "unit_amount": 100}]}
        started = threading.Event()

        def create_invoice_whose_email_hangs():
            started.set()
            began = time.monotonic()
            response = requests.put(f"{live.url}/api/v1/invoices/INV-MAIL-1", json=invoice, headers=headers, timeout=30)
            return response.status_code, time.monotonic() - began

        def write_meanwhile(n):
            started.wait()
            time.sleep(0.8)  # the first request is now waiting on the mail server
            began = time.monotonic()
            response = requests.put(f"{live.url}/api/v1/companies/OTHER-{n}", headers=headers, timeout=30,
                                    json={"name": f"Other {n}", "billing_emails": []})
            return response.status_code, time.monotonic() - began

        with ThreadPoolExecutor(4) as pool:
            hanging = pool.submit(create_invoice_whose_email_hangs)
            others = [pool.submit(write_meanwhile, n) for n in range(3)]
            (status, hung_for), written = hanging.result(), [other.result() for other in others]

        # It waited out the one SMTP timeout (3 s) and no more than that plus its own work on a
        # busy machine; the writes made meanwhile did not wait for it.
        assert status == 201 and 3 <= hung_for < 10, hung_for
        assert all(code == 201 and took < 2.5 for code, took in written), written
        rows = session.scalars(select(OutboxMessage)).all()
        assert [(row.status, row.attempts) for row in rows] == [("pending", 1)]


def test_an_invoice_with_its_pdf_attached_is_left_to_the_worker_and_its_request_never_waits(live):
    with engine_of(live) as engine, session_on(engine) as session:
        _, key = create_api_key(session, "erp-pdf")
        Builders(session).company(ref="MAIL-PDF", billing_emails=["ap@mail-pdf.test"])
        session.commit()
        invoice = {"company_ref": "MAIL-PDF", "issue_date": "2026-11-01", "due_date": "2026-12-01",
                   "currency": "EUR", "lines": [{"description": "Pallets", "quantity": "1", "unit_amount": 100}]}

        began = time.monotonic()
        response = requests.put(f"{live.url}/api/v1/invoices/INV-PDF-1", json=invoice, timeout=30,
                                headers={"Authorization": f"Bearer {key}"})
        took = time.monotonic() - began

        # Neither the PDF nor the silent mail server was the request's: the message waits, untried.
        assert response.status_code == 201 and took < 2.5, took
        [message] = [row for row in session.scalars(select(OutboxMessage)) if row.recipients == ["ap@mail-pdf.test"]]
        assert (message.status, message.attempts, message.attach_format) == ("pending", 0, "pdf")
