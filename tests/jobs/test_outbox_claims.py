"""The outbox delivered by several processes at once: every e-mail reaches the SMTP server once.

Each delivery claims a message in a committed transaction before sending it (PostgreSQL:
`FOR UPDATE SKIP LOCKED`; SQLite: the one writer), so the concurrent test runs on a database
of its own with real commits: a file SQLite, or PostgreSQL with ACQUIT_TEST_DATABASE_URL
(`scripts/test-postgres tests/jobs`).
"""

import asyncio
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import make_engine
from portal.mail import outbox
from portal.mail.compose import ComposedEmail
from portal.models import OutboxMessage
from portal.models.types import utcnow
from tests.conftest import SmtpServer, migrated_database

MESSAGES = 40


class SlowSmtpServer(SmtpServer):
    """An SMTP server that takes a little while over each message, so deliveries overlap."""

    def start(self) -> None:
        super().start()
        keep = self._controller.handler.handle_DATA

        async def handle_slowly(server, session, envelope):
            await asyncio.sleep(0.02)
            return await keep(server, session, envelope)

        self._controller.handler.handle_DATA = handle_slowly


@pytest.fixture
def slow_smtp_server():
    server = SlowSmtpServer()
    server.start()
    yield server
    server.stop()


def smtp_for(server: SmtpServer) -> outbox.SmtpSettings:
    return outbox.SmtpSettings(host=server.host, port=server.port, sender="Acquit <no-reply@acquit.invalid>")


@pytest.fixture(scope="session")
def shared_engine(tmp_path_factory):
    """A database of its own where deliveries commit for real."""
    engine = make_engine(migrated_database(tmp_path_factory, "jobs-outbox"))
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(shared_engine):
    with shared_engine.begin() as connection:
        connection.execute(delete(OutboxMessage))
    return sessionmaker(bind=shared_engine, expire_on_commit=False)


def enqueue(session: Session, subjects: list[str]) -> list[int]:
    ids = [outbox.enqueue(session, [f"ap{n}@customer.test"], ComposedEmail(subject=subject, text=f"{subject}.", html=None)).id
           for n, subject in enumerate(subjects)]
    session.commit()
    return ids


def deliver_at_once(sessions, smtp: outbox.SmtpSettings, deliveries: int) -> list[int]:
    """Run `deliveries` deliveries in threads, each with its own session, released together."""
    start = threading.Barrier(deliveries)
    sent: list[int] = [0] * deliveries
    failures: list[BaseException] = []

    def deliver(position: int) -> None:
        with sessions() as session:
            start.wait()
            try:
                sent[position] = outbox.deliver(session, smtp)
            except BaseException as error:
                failures.append(error)

    threads = [threading.Thread(target=deliver, args=(position,)) for position in range(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return sent


def test_two_deliveries_at_once_send_every_email_exactly_once(sessions, slow_smtp_server):
    with sessions() as session:
        enqueue(session, [f"Statement {n}" for n in range(MESSAGES)])

    sent = deliver_at_once(sessions, smtp_for(slow_smtp_server), 2)

    received = Counter(message.message["Subject"] for message in slow_smtp_server.messages)
    assert received == Counter({f"Statement {n}": 1 for n in range(MESSAGES)})
    assert sum(sent) == MESSAGES
    assert all(sent), f"both deliveries should have taken part of the work: {sent}"
    with sessions() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert {(row.status, row.attempts, row.claimed_at) for row in rows} == {("sent", 1, None)}


def test_a_claim_left_by_a_delivery_that_died_is_taken_again_once_it_expires(sessions, smtp_server):
    with sessions() as session:
        abandoned, in_progress = enqueue(session, ["Abandoned", "Being sent elsewhere"])
        now = utcnow()
        session.get(OutboxMessage, abandoned).claimed_at = now - outbox.CLAIM_EXPIRES_AFTER - timedelta(seconds=1)
        session.get(OutboxMessage, in_progress).claimed_at = now - timedelta(seconds=30)
        for message_id in (abandoned, in_progress):
            session.get(OutboxMessage, message_id).attempts = 1
        session.commit()

        assert outbox.deliver(session, smtp_for(smtp_server)) == 1

        assert [message.message["Subject"] for message in smtp_server.messages] == ["Abandoned"]
        session.expire_all()
        taken_again, left_alone = session.get(OutboxMessage, abandoned), session.get(OutboxMessage, in_progress)
        assert (taken_again.status, taken_again.attempts, taken_again.claimed_at) == ("sent", 2, None)
        assert (left_alone.status, left_alone.attempts) == ("pending", 1)


def test_a_message_that_cannot_be_sent_is_released_with_its_error_and_the_others_still_go(sessions, smtp_server,
                                                                                          monkeypatch):
    with sessions() as session:
        broken, fine = enqueue(session, ["Broken", "Fine"])
        real_send = outbox._send

        def send(session, smtp, message):
            if message.id == broken:
                raise ValueError("cannot draw the PDF")
            real_send(session, smtp, message)

        monkeypatch.setattr(outbox, "_send", send)

        assert outbox.deliver(session, smtp_for(smtp_server)) == 1

        assert [message.message["Subject"] for message in smtp_server.messages] == ["Fine"]
        session.expire_all()
        row = session.get(OutboxMessage, broken)
        assert (row.status, row.attempts, row.claimed_at, row.last_error) == (
            "pending", 1, None, "ValueError: cannot draw the PDF")
