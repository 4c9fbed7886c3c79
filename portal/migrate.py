"""Alembic, driven from Acquit's settings: `acquit db upgrade` and the drift test use this."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from portal.db import make_engine, refresh_statistics

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` to `revision` (head by default), then refresh its statistics."""
    command.upgrade(alembic_config(database_url), revision)
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            refresh_statistics(connection)
    finally:
        engine.dispose()


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def unapplied_heads(connection) -> set[str]:
    """The migration heads the database at `connection` has not reached (empty when it is up to date)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    expected = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
    return expected - set(MigrationContext.configure(connection).get_current_heads())
