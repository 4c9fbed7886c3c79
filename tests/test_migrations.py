"""The migrations build exactly the schema the models describe, and can be walked both ways.

Each test gets a throwaway database of its own (never the session's shared one): a SQLite
file under tmp_path, or, when ACQUIT_TEST_DATABASE_URL is set, a dedicated PostgreSQL
database on that server, dropped afterwards.
"""

import json
import os
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

import portal.models  # noqa: F401  (registers every table on the metadata)
from portal import migrate
from portal.db import Base, make_engine


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture
def empty_database_url(tmp_path):
    """The URL of an empty database that only this test uses."""
    server_url = os.environ.get("ACQUIT_TEST_DATABASE_URL")
    if not server_url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    name = f"acquit_migrations_{_worker_suffix()}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _drift(database_url: str) -> list:
    """What autogenerate would still write to bring the database to the models (as migrations/env.py)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"target_metadata": Base.metadata, "compare_type": True, "render_as_batch": True},
            )
            with warnings.catch_warnings():
                # SQLite's reflection skips an index on an expression (ix_payment_date) and
                # says so; test_every_index_of_the_models_is_in_the_database checks it by name.
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
                return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_the_migrations_have_a_single_head():
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_a_database_upgraded_to_head_matches_the_models_exactly(empty_database_url):
    migrate.upgrade(empty_database_url)
    assert _drift(empty_database_url) == []


def test_a_database_upgraded_to_head_has_every_table_of_the_models(empty_database_url):
    migrate.upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_every_index_of_the_models_is_in_the_database(empty_database_url):
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            names = connection.scalars(text(
                "SELECT name FROM sqlite_master WHERE type = 'index'" if engine.dialect.name == "sqlite"
                else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")).all()
    finally:
        engine.dispose()
    wanted = {index.name for table in Base.metadata.tables.values() for index in table.indexes}
    assert wanted - set(names) == set()


def test_downgrading_to_base_removes_every_table(empty_database_url):
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) <= {"alembic_version"}


def test_upgrading_again_after_downgrading_to_base_matches_the_models_exactly(empty_database_url):
    migrate.upgrade(empty_database_url)
    migrate.downgrade(empty_database_url, "base")
    migrate.upgrade(empty_database_url)
    assert _drift(empty_database_url) == []


def test_every_migration_can_be_undone_and_redone_one_step_at_a_time(empty_database_url):
    for revision in _revisions_oldest_first():
        migrate.upgrade(empty_database_url, revision)
        migrate.downgrade(empty_database_url, "-1")
        migrate.upgrade(empty_database_url, revision)
    assert _drift(empty_database_url) == []


def test_invoices_loaded_before_custom_fields_were_searchable_become_searchable(empty_database_url):
    migrate.upgrade(empty_database_url, "fdc4c3081647")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO company (id, external_ref, name, billing_emails, locale, currency, created_at, updated_at) "
                "VALUES (1, 'ACME', 'Acme', '[]', 'fr', 'EUR', '2026-11-01 00:00:00', '2026-11-01 00:00:00')"))
            for invoice_id, fields in ((1, '{"cost_centre": "R&D Lyon"}'), (2, '{}')):
                connection.execute(text(
                    "INSERT INTO invoice (id, company_id, number, issue_date, due_date, currency, amount_net, "
                    "amount_tax, amount_total, amount_paid, amount_credited, custom_fields, created_at, updated_at) "
                    "VALUES (:id, 1, :number, '2026-11-01', '2026-12-01', 'EUR', 100, 20, 120, 0, 0, :fields, "
                    "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"), {"id": invoice_id, "number": f"INV-{invoice_id}",
                                                                     "fields": fields})
        migrate.upgrade(empty_database_url)
        with engine.connect() as connection:
            searchable = dict(connection.execute(text("SELECT id, custom_fields_text FROM invoice")).all())
    finally:
        engine.dispose()
    assert searchable == {1: "r&d lyon", 2: ""}


def test_a_companys_billing_emails_become_recipients_receiving_everything_with_the_pdf(empty_database_url):
    migrate.upgrade(empty_database_url, "a3c41f0e9b27")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            for company_id, emails in ((1, '["ap@acme.test", "AP@acme.test", "boss@acme.test"]'), (2, "[]")):
                connection.execute(text(
                    "INSERT INTO company (id, external_ref, name, billing_emails, locale, currency, created_at, "
                    "updated_at) VALUES (:id, :ref, 'Acme', :emails, 'fr', 'EUR', '2026-11-01 00:00:00', "
                    "'2026-11-01 00:00:00')"), {"id": company_id, "ref": f"C{company_id}", "emails": emails})
            connection.execute(text(
                "INSERT INTO invoice (id, company_id, number, issue_date, due_date, currency, amount_net, amount_tax, "
                "amount_total, amount_paid, amount_credited, custom_fields, custom_fields_text, created_at, updated_at) "
                "VALUES (1, 1, 'INV-1', '2026-11-01', '2026-12-01', 'EUR', 100, 20, 120, 0, 0, '{}', '', "
                "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"))
        migrate.upgrade(empty_database_url)
        with engine.connect() as connection:
            recipients = connection.execute(text(
                "SELECT company_id, email, receives_invoices, receives_reminders, receives_receipts, "
                "receives_statements, invoice_format FROM billing_recipient ORDER BY id")).all()
        migrate.downgrade(empty_database_url, "a3c41f0e9b27")
        with engine.connect() as connection:
            emails_after_downgrade = connection.execute(text("SELECT billing_emails FROM company ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in recipients] == [
        (1, "ap@acme.test", True, True, True, True, "pdf"), (1, "boss@acme.test", True, True, True, True, "pdf")]
    assert [json.loads(value) if isinstance(value, str) else value for (value,) in emails_after_downgrade] == [
        ["ap@acme.test", "boss@acme.test"], []]


def test_a_table_other_rows_point_at_is_altered_with_those_rows_kept(empty_database_url):
    """On SQLite, altering a table means copying it and dropping the original: with rows pointing
    at it (a reminder at its e-mail) and foreign keys enforced, the drop failed the upgrade."""
    migrate.upgrade(empty_database_url, "8e3b6f2a7c15")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO company (id, external_ref, name, locale, currency, created_at, updated_at, data_version) "
                "VALUES (1, 'C1', 'Acme', 'fr', 'EUR', '2026-11-01 00:00:00', '2026-11-01 00:00:00', 'v1')"))
            connection.execute(text(
                "INSERT INTO outbox_message (id, recipients, subject, body_text, status, attempts, created_at) "
                "VALUES (7, '[\"ap@acme.test\"]', 'Reminder', 'Please pay', 'sent', 1, '2026-11-01 00:00:00')"))
            connection.execute(text(
                "INSERT INTO reminder_email (id, company_id, sent_on, recipients, outbox_message_id, created_at) "
                "VALUES (1, 1, '2026-11-01', '[\"ap@acme.test\"]', 7, '2026-11-01 00:00:00')"))
        migrate.upgrade(empty_database_url)
        with engine.connect() as connection:
            kept = connection.execute(text(
                "SELECT reminder_email.id, outbox_message.subject FROM reminder_email "
                "JOIN outbox_message ON outbox_message.id = reminder_email.outbox_message_id")).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in kept] == [(1, "Reminder")]
