import os

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
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
