"""The queue in front of SQLite's write lock: one writer's turn at a time, across threads and processes,
given up by COMMIT and by ROLLBACK, and never a wait longer than the busy timeout."""

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from portal.db import _BEGIN_IMMEDIATE, begin_write, make_engine
from portal.sqlite_writers import WriterQueue


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.sqlite3'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE written (writer TEXT)")
    yield engine
    engine.dispose()


def _write_in_thread(engine, writer: str, began: list[str]) -> threading.Thread:
    def write():
        with Session(engine) as session:
            begin_write(session)
            began.append(writer)
            session.execute(text("INSERT INTO written VALUES (:writer)"), {"writer": writer})
            session.commit()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_writer_waits_for_the_turn_until_the_one_before_commits_or_rolls_back(engine, end):
    began: list[str] = []
    asked_sqlite: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _note_begin(_connection, _cursor, statement, *_):
        if statement == "BEGIN IMMEDIATE":
            asked_sqlite.append(threading.current_thread().name)

    with Session(engine) as first:
        begin_write(first)
        first.execute(text("INSERT INTO written VALUES ('first')"))
        second = _write_in_thread(engine, "second", began)
        time.sleep(0.2)
        assert began == [], "the second writer began while the first held the turn"
        # It waits in the queue, not in SQLite's busy handler's sleeps.
        assert asked_sqlite == [threading.current_thread().name]
        getattr(first, end)()
        second.join(timeout=5)
    assert began == ["second"]
    with engine.connect() as connection:
        rows = [row for (row,) in connection.execute(text("SELECT writer FROM written ORDER BY rowid"))]
    assert rows == (["first", "second"] if end == "commit" else ["second"])


def test_a_connection_kept_after_its_commit_does_not_keep_the_turn(engine):
    began: list[str] = []
    with engine.connect() as kept:
        writing = kept.execution_options(**{_BEGIN_IMMEDIATE: True})
        writing.begin()
        writing.execute(text("INSERT INTO written VALUES ('kept')"))
        writing.commit()
        # Still checked out of the pool: the next writer goes on all the same.
        _write_in_thread(engine, "next", began).join(timeout=5)
        assert began == ["next"]


def test_a_failed_statement_gives_the_turn_up_with_its_rollback(engine):
    with Session(engine) as session:
        begin_write(session)
        with pytest.raises(Exception, match="no such table"):
            session.execute(text("INSERT INTO missing VALUES (1)"))
        session.rollback()
    began: list[str] = []
    _write_in_thread(engine, "next", began).join(timeout=5)
    assert began == ["next"]


def test_readers_do_not_queue(engine):
    counted: list[int] = []

    def read():
        with Session(engine) as reader:
            counted.append(reader.scalar(text("SELECT count(*) FROM written")))

    with Session(engine) as writer:
        begin_write(writer)
        writer.execute(text("INSERT INTO written VALUES ('unseen')"))
        reading = threading.Thread(target=read)
        reading.start()
        reading.join(timeout=5)
        assert counted == [0]
        writer.rollback()


def test_the_thread_holding_the_turn_does_not_wait_for_itself(tmp_path):
    queue = WriterQueue(str(tmp_path / "lock"), timeout=30)
    assert queue.take_turn() is True
    assert queue.take_turn() is False
    queue.end_turn()


def test_a_writer_that_does_not_get_the_turn_within_the_timeout_goes_on_without_it(tmp_path):
    lock_path = str(tmp_path / "lock")
    holder, waiter = WriterQueue(lock_path, timeout=30), WriterQueue(lock_path, timeout=0.2)
    assert holder.take_turn() is True
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(waiter.take_turn()))
    thread.start()
    thread.join(timeout=5)
    assert outcome == [False]
    holder.end_turn()
    assert waiter.take_turn() is True
    waiter.end_turn()


def _hold_turn_in_child(queue: WriterQueue, holding, release) -> None:
    assert queue.take_turn()
    holding.set()
    release.wait(10)
    queue.end_turn()


def test_processes_take_turns_even_when_forked_with_the_queue(tmp_path):
    queue = WriterQueue(str(tmp_path / "lock"), timeout=30)
    assert queue.take_turn() is True
    queue.end_turn()
    context = multiprocessing.get_context("fork")
    holding, release = context.Event(), context.Event()
    child = context.Process(target=_hold_turn_in_child, args=(queue, holding, release))
    child.start()
    try:
        assert holding.wait(10)
        got: list[bool] = []
        waiting = threading.Thread(target=lambda: got.append(queue.take_turn()))
        waiting.start()
        time.sleep(0.2)
        assert got == [], "this process took the turn the forked child held"
        release.set()
        waiting.join(timeout=5)
        assert got == [True]
        queue.end_turn()
    finally:
        release.set()
        child.join(timeout=10)
    assert child.exitcode == 0


def test_the_lock_file_lies_next_to_the_database_and_an_in_memory_database_has_none(engine, tmp_path):
    with Session(engine) as session:
        begin_write(session)
        session.commit()
    assert (tmp_path / "writers.sqlite3-writers.lock").exists()
    in_memory = make_engine("sqlite://")
    with Session(in_memory) as session:
        begin_write(session)
        session.commit()
    assert sorted(path.name for path in Path(tmp_path).iterdir() if path.name.endswith(".lock")) == [
        "writers.sqlite3-writers.lock"]


def test_a_writer_whose_lock_file_cannot_be_made_goes_on_without_a_turn(tmp_path):
    queue = WriterQueue(str(tmp_path / "no-such-folder" / "lock"), timeout=30)
    assert queue.take_turn() is False
    again: list[bool] = []
    thread = threading.Thread(target=lambda: again.append(queue.take_turn()))
    thread.start()
    thread.join(timeout=5)
    assert again == [False], "the first attempt left its process's lock held"
