import os
from contextlib import contextmanager

from alembic import context
from sqlalchemy import pool

import portal.models  # noqa: F401  (registers every table on the metadata)
from portal.db import Base, make_engine

config = context.config
target_metadata = Base.metadata
database_url = config.get_main_option("sqlalchemy.url") or os.environ["ACQUIT_DATABASE_URL"]


def run_migrations_offline() -> None:
    context.configure(
        url=database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = make_engine(database_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run_with(connection)


def _run_with(connection) -> None:
    # Batch mode lets later migrations alter SQLite tables, which cannot ALTER most things.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with _foreign_keys_checked_after(connection), context.begin_transaction():
        context.run_migrations()


@contextmanager
def _foreign_keys_checked_after(connection):
    """On SQLite, migrate with foreign keys unenforced, then check every reference.

    Batch mode alters a SQLite table by copying it and dropping the original; with foreign keys
    enforced, dropping a table other rows point at fails (a reminder at its e-mail). SQLite's own
    procedure for altering tables is this one: enforcement off (a setting it ignores inside a
    transaction, hence set on the driver's connection before the migrations' transaction), then
    `foreign_key_check`, which names any row left pointing at nothing.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    driver_connection = connection.connection.driver_connection
    driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        dangling = driver_connection.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            raise RuntimeError(f"rows point at rows that no longer exist (table, rowid, parent, key): {dangling}")
    finally:
        driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
