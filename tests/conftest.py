"""Fixtures: `app`, `db` (a fresh transaction per test), `client`, and builders.

The schema is built once per test process by Alembic (so every run also proves the
migrations), on SQLite by default or on PostgreSQL when ACQUIT_TEST_DATABASE_URL is set.
Each test then runs inside a transaction that is rolled back at its end: the app's
`session.commit()` only releases a savepoint.
"""

import os

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from portal import create_app, migrate
from portal.db import make_engine
from portal.extensions import db as database
from tests.builders import Builders

TEST_SECRET_KEY = "test-secret-key-not-for-production"


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A database of this test process's own, migrated to head."""
    server_url = os.environ.get("ACQUIT_TEST_DATABASE_URL")
    if not server_url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'acquit-test.sqlite3'}"
    else:
        url = _fresh_postgres_database(server_url, f"acquit_test_{_worker_suffix()}")
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
        **overrides,
    }


@pytest.fixture
def app_overrides() -> dict:
    """Override in a test module to change the app's config for its tests."""
    return {}


@pytest.fixture
def app(database_url, app_overrides):
    return create_app(app_config(database_url, **app_overrides))


@pytest.fixture
def db(app, engine):
    """The app's session, inside a transaction rolled back when the test ends."""
    connection = engine.connect()
    outer = connection.begin()
    with app.app_context():
        database.bind_sessions(app, bind=connection, join_transaction_mode="create_savepoint")
        session = database.session
        yield session
        session.close()
    outer.rollback()
    connection.close()


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
