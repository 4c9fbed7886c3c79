"""The SQLAlchemy base and engine setup, with no Flask in it (jobs and tests use it bare)."""

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url != "sqlite://":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        if kwargs.get("isolation_level") != "AUTOCOMMIT":
            _begin_sqlite_transactions_explicitly(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _begin_sqlite_transactions_explicitly(engine: Engine) -> None:
    """Have SQLAlchemy emit BEGIN itself, as its SQLite dialect documentation advises.

    Python's sqlite3 (before 3.12's `autocommit=False`) begins a transaction only before
    INSERT/UPDATE/DELETE: a SAVEPOINT then opens a transaction of its own, which RELEASE
    commits, and reads run outside any transaction. So a nested transaction's "commit"
    was a real COMMIT (the test rig's rolled-back transaction per test leaked every request's
    writes into the database) and a request's reads were not one consistent snapshot.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")
