"""The SQLAlchemy base and engine setup, with no Flask in it (jobs and tests use it bare)."""

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

from sqlalchemy import MetaData, Table, create_engine, event, insert, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.sql import FromClause

from portal.sqlite_writers import WriterQueue

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The execution option `begin_write` sets on a transaction's connection.
_BEGIN_IMMEDIATE = "acquit_begin_immediate"
# Seconds Python's sqlite3 waits for a lock when `connect_args` name no timeout.
SQLITE3_DEFAULT_TIMEOUT = 5.0


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def begin_write(session: Session) -> None:
    """Begin `session`'s next transaction as one that will write; call it between transactions.

    On SQLite that is BEGIN IMMEDIATE: the write lock is taken first, waiting up to the busy
    timeout. A transaction opened by a plain BEGIN that reads and then writes fails at once
    with "database is locked" if another connection wrote in between (in WAL mode SQLite
    cannot upgrade a stale snapshot, and the busy timeout does not help), so under load such
    a transaction fails however long it is willing to wait. PostgreSQL locks rows instead
    and ignores the option.
    """
    session.connection(execution_options={_BEGIN_IMMEDIATE: True})


def begin_write_after_reading(session: Session) -> None:
    """End the transaction in which `session` has only read, and begin the next as one that will write.

    A request that authenticates and checks its input before it writes takes SQLite's write
    lock only then: other writers wait for its writing alone, not for its reading too.
    PostgreSQL locks rows, not the database: there the transaction simply goes on.
    """
    if session.get_bind().dialect.name != "sqlite":
        return
    session.commit()
    begin_write(session)


WRITE_RETRIES = 5
Result = TypeVar("Result")


def run_as_writer(session: Session, work: Callable[[], Result]) -> Result:
    """Run `work` in a fresh transaction begun as a writer, again if SQLite still reports its lock busy.

    Whatever `session` had is committed first. PostgreSQL waits on row locks instead. On
    SQLite the transaction takes the write lock before it reads anything (`begin_write`), so
    no other writer can overtake its snapshot; the retries remain for a lock held longer
    than the busy timeout. The caller commits what `work` did.
    """
    session.commit()
    for attempt in range(1, WRITE_RETRIES):
        begin_write(session)
        try:
            return work()
        except OperationalError as error:
            session.rollback()
            if "locked" not in str(error).lower():
                raise
            time.sleep(0.05 * attempt)
    begin_write(session)
    return work()


def insert_unless_raced(session: Session, insert: Callable[[], Result],
                        find: Callable[[], Result | None]) -> tuple[Result, bool]:
    """`insert()` a row found missing, or, if a concurrent transaction committed the same one
    first (a unique violation), `find()` theirs; returns the row and whether this call made it.

    Two requests creating the same company or number both see it missing. On PostgreSQL the
    second insert waits for the first transaction, then fails on the unique constraint: run
    in a savepoint, that failure is undone alone, and the next statement (READ COMMITTED)
    sees the row the first one committed. An IntegrityError with no such row to find is re-raised.

    On SQLite it cannot happen, so no savepoint is paid for: a writer that read the row
    missing holds the write lock (`begin_write`) or, if another wrote in between, fails with
    "database is locked" before its insert.
    """
    if session.get_bind().dialect.name == "sqlite":
        return insert(), True
    try:
        with session.begin_nested():
            return insert(), True
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found, False


def insert_rows(session: Session, table: FromClause, rows: Sequence[dict]) -> None:
    """INSERT `rows` (column values, every row with the same columns) into `table`, in the session's transaction.

    On PostgreSQL the rows go by COPY: an INSERT executed many times is one statement per row
    for the server (planned, executed, its triggers queued each time), which for a batch's
    thousands of lines and audit rows cost more than all the rest of its work. The values are
    those an INSERT would send (each column type's conversion, and the columns' Python-side
    defaults for columns the rows leave out); ids left out are drawn from their sequence. A
    database error is raised as SQLAlchemy's (an `IntegrityError` for a broken constraint).
    """
    if not isinstance(table, Table):
        raise TypeError(f"insert_rows writes to a table, not to {table!r}")
    if not rows:
        return
    if session.autoflush:
        # As `session.execute` would: what was added to the session before is written before these rows.
        session.flush()
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    names = list(rows[0])
    defaulted = [column for column in table.columns if column.name not in rows[0] and column.default is not None]
    if any(not (column.default.is_scalar or column.default.is_callable) for column in defaulted):
        raise ValueError(f"{table.name}: a column left out has a default COPY cannot compute")
    # A callable default is called for each row, as an INSERT's would be.
    defaults = [(lambda value=column.default.arg: value) if column.default.is_scalar else partial(column.default.arg, None)
                for column in defaulted]
    columns = [table.c[name] for name in names] + defaulted
    conversions = [(index, processor) for index, column in enumerate(columns)
                   if (processor := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    quote = dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(column.name) for column in columns)}) FROM STDIN"
    try:
        with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                values = [row[name] for name in names]
                values += [default() for default in defaults]
                for index, convert in conversions:
                    values[index] = convert(values[index])
                copy.write_row(values)
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(statement, None, error, dialect.loaded_dbapi.Error,
                                  hide_parameters=True, dialect=dialect) from error


#: The largest id a row can have (a signed 64-bit integer, on SQLite and PostgreSQL alike).
MAX_ROW_ID = 2**63 - 1


def refresh_statistics(connection) -> None:
    """Have the query planner count the tables and indexes again (ANALYZE).

    Without statistics SQLite guesses every table's size and may walk an index that does not
    narrow (the invoice list then reads all of a company's invoices); PostgreSQL's autovacuum
    catches up only later. Run after migrations and after big imports.
    """
    connection.exec_driver_sql("ANALYZE")


# Pages below which PostgreSQL's planner finds a sequential scan cheaper than the primary key's index.
_SMALL_TABLE_PAGES = 16


def refresh_outgrown_statistics(session: Session, table_names: Sequence[str]) -> None:
    """On PostgreSQL, ANALYZE each table of `table_names` that has grown to twice the size its statistics give it.

    A foreign key's check (`SELECT 1 FROM invoice WHERE id = $1 FOR KEY SHARE`) is planned
    once per database connection, and planned again only when the table's statistics change.
    Planned while the invoice table was a few pages (a new portal's first invoices), it scans
    the whole table for every line and audit row inserted after: measured, 100,000 invoices
    in batches went at 2,500/s instead of 5,000/s, the checks reading a billion rows, until
    autovacuum's next ANALYZE (at most once a minute, and only after 10 % more rows). A batch
    that outgrows the statistics renews them itself; one already being renewed is skipped.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return
    for name in table_names:
        believed, current = connection.execute(
            text("SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int FROM pg_class "
                 "WHERE oid = CAST(:table AS regclass)"), {"table": name}).one()
        if current >= _SMALL_TABLE_PAGES and current > 2 * believed:
            connection.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {connection.dialect.identifier_preparer.quote(name)}")


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite gets foreign keys, WAL and a busy timeout.

    A database error's message leaves out the statement's parameters: they hold what must not
    reach a log (an e-mail's body with its PAY NOW link, a password's hash, a reset token).
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        connect_args = kwargs["connect_args"] = {**kwargs.get("connect_args", {"check_same_thread": False, "timeout": 30})}
        database_path = make_url(url).database
        # Writers queue on a lock file beside a plain file database (not beside a `file:` URI, nor in memory).
        plain_file = bool(database_path) and database_path != ":memory:" and not database_path.startswith("file:")
        explicit_transactions = kwargs.get("isolation_level") != "AUTOCOMMIT"
        writers = None
        if plain_file and explicit_transactions:
            writers = WriterQueue(f"{database_path}-writers.lock",
                                  connect_args.get("timeout", SQLITE3_DEFAULT_TIMEOUT))
            connect_args["factory"] = writers.connection_class
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url != "sqlite://":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        if explicit_transactions:
            _begin_sqlite_transactions_explicitly(engine, writers)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _begin_sqlite_transactions_explicitly(engine: Engine, writers: WriterQueue | None) -> None:
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
        immediate = connection.get_execution_options().get(_BEGIN_IMMEDIATE, False)
        if immediate and writers is not None:
            writers.wait_for_turn(connection)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
