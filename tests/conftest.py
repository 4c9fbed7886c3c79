"""Fixtures: `app`, `db` (a fresh transaction per test), `client`, and builders.

The schema is built once per test process by Alembic (so every run also proves the
migrations), on SQLite by default or on PostgreSQL when ACQUIT_TEST_DATABASE_URL is set.
Each test then runs inside a transaction that is rolled back at its end: the app's
`session.commit()` only releases a savepoint.
"""

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal import migrate
from portal.app import create_app
from portal.db import make_engine
from portal.demo import DEMO_SUPPLIER
from portal.extensions import db as database
from tests.builders import Builders

TEST_SECRET_KEY = "test-secret-key-not-for-production"


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A database of this test process's own, migrated to head."""
    return migrated_database(tmp_path_factory, "db")


def migrated_database(tmp_path_factory, name: str) -> str:
    """A new database for this test process, migrated to head: a SQLite file, or a database
    on the PostgreSQL server ACQUIT_TEST_DATABASE_URL points at."""
    server_url = os.environ.get("ACQUIT_TEST_DATABASE_URL")
    if not server_url:
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'acquit.sqlite3'}"
    else:
        url = _fresh_postgres_database(server_url, f"acquit_test_{name.replace('-', '_')}_{_worker_suffix()}")
    migrate.upgrade(url)
    return url


def _fresh_postgres_database(server_url: str, name: str) -> str:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def app_config(database_url: str, **overrides) -> dict:
    """The config every test app starts from."""
    return {
        "TESTING": True,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ACQUIT_DATABASE_URL": database_url,
        "ACQUIT_SMTP_HOST": None,
        "ACQUIT_BASE_URL": "http://portal.test",
        "WTF_CSRF_ENABLED": False,
        "ACQUIT_PAYMENT_GATEWAY": "fake",
        **DEMO_SUPPLIER,
        **overrides,
    }


@pytest.fixture
def app_overrides() -> dict:
    """Override in a test module to change the app's config for its tests."""
    return {}


@pytest.fixture
def app(database_url, app_overrides, tmp_path):
    # Dispute attachments go to this test's own folder, never the instance folder.
    overrides = {"ACQUIT_ATTACHMENT_DIR": str(tmp_path / "attachments"), **app_overrides}
    return create_app(app_config(database_url, **overrides))


@pytest.fixture
def db(app, engine):
    """A session for the test's own reads and writes, inside a transaction rolled back at the end.

    Every session of the app, the test's and each request's, joins that one connection: a
    request's commit only releases a savepoint. Requests still get their own app context,
    `g` and session, as in production; objects the test holds may then be stale after a
    request, so a test reads them again (`db.refresh(obj)`) to see what a request changed.
    """
    connection = engine.connect()
    outer = connection.begin()
    with app.app_context():
        database.bind_sessions(app, bind=connection, join_transaction_mode="create_savepoint")
    session = database_session(app, connection)
    yield session
    session.close()
    outer.rollback()
    connection.close()


def database_session(app, connection):
    """A session like the app's, bound to `connection`, usable without an app context."""
    from sqlalchemy.orm import Session

    return Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def make(db) -> Builders:
    return Builders(db)


@pytest.fixture
def login_as(client):
    """Sign `user` in through the real sign-in form; returns the client."""

    def sign_in(user, password: str = Builders.PASSWORD):
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return sign_in


# --- A real SMTP server (aiosmtpd) that keeps what it receives ----------------------------

# aiosmtpd tells of every connection at INFO, from its own thread, often between two tests where
# no capture holds it: the portal's log handler would print it amid the test run's progress.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ReceivedEmail:
    """One message as the SMTP server got it: the parsed e-mail and its envelope."""

    message: EmailMessage
    mail_from: str
    recipients: list[str]

    def text_body(self) -> str:
        return self.message.get_body(preferencelist=("plain",)).get_content()


class _KeepMessages:
    """aiosmtpd handler: parse and keep every message, accept it with 250."""

    def __init__(self, received: list[ReceivedEmail]):
        self.received = received

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            ReceivedEmail(
                message=BytesParser(policy=email_policy.default).parsebytes(envelope.content),
                mail_from=envelope.mail_from,
                recipients=list(envelope.rcpt_tos),
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and a free port; `messages` is what it has received.

    `stop()` and `start()` take it down and bring it back on the same port, so a test can
    show what happens while the mail server is unreachable.
    """

    host = "127.0.0.1"

    def __init__(self):
        self.port = _free_port(self.host)
        self.messages: list[ReceivedEmail] = []
        self._controller: Controller | None = None

    @property
    def app_config(self) -> dict:
        """Config that points the app at this server (return it from `app_overrides`)."""
        return {"ACQUIT_SMTP_HOST": self.host, "ACQUIT_SMTP_PORT": self.port}

    def start(self) -> None:
        self._controller = Controller(_KeepMessages(self.messages), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A Redis server of this test process's own (Debian's redis-server, in memory only), as a URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        reason = "redis-server is missing: the shared page cache's tests need it (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must run them", pytrace=False)
        pytest.skip(reason)
    import redis

    port = _free_port("127.0.0.1")
    workdir = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"redis-server did not start on port {port}", pytrace=False)
            time.sleep(0.05)
    client.close()
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def smtp_server():
    """A running SMTP server for this test. Point the app at it with

        @pytest.fixture
        def app_overrides(smtp_server):
            return smtp_server.app_config
    """
    server = SmtpServer()
    server.start()
    yield server
    server.stop()
