"""A queue in front of SQLite's write lock, so that it passes from one writer to the next at once.

SQLite lets one transaction write at a time. One that finds the lock taken sleeps and tries
again, in ever longer sleeps (1, 2, 5, 10, … 100 ms, the busy handler's schedule): under a
steady stream of API writes from gunicorn's threads and processes the lock was then free
much of the time while every writer was still asleep (single invoices at about 100–145 a
second for a lock held 4.5 ms each, and a p95 of 200–350 ms). Here a writer first waits its
turn: behind a lock of its own process, which wakes the next thread as soon as it is
released, then behind a file lock (flock) that every process shares, which the one thread at
the head of each process's queue tries every half millisecond. The turn ends with the
transaction's COMMIT or ROLLBACK.

SQLite's lock remains what keeps writers apart: a writer that could not get its turn within
the busy timeout goes on and lets SQLite decide, as it would without the queue, and writers
that do not begin with `portal.db.begin_write` (or other programs) simply do not queue.
"""

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Connection

# How often the head of a process's queue tries the lock shared with other processes: a
# non-blocking flock costs microseconds; blocking would have no timeout.
POLL_SECONDS = 0.0005


class WriterQueue:
    """Writers' turns for one SQLite database file, across this process's threads and other processes."""

    def __init__(self, lock_path: str, timeout: float):
        self._lock_path = lock_path
        self._timeout = timeout
        self._process_id: int | None = None
        self._for_this_process()
        # The engine's connections (sqlite3.connect's `factory`): each gives up its turn as its transaction ends.
        self.connection_class = _turn_giving_connection(self)

    def wait_for_turn(self, connection: Connection) -> None:
        """Before `connection` begins as a writer (BEGIN IMMEDIATE): wait for its turn, which its transaction's end gives up."""
        dbapi_connection = connection.connection.dbapi_connection
        assert isinstance(dbapi_connection, self.connection_class), "the engine's connections are not the queue's"
        if self.take_turn():
            dbapi_connection.holds_turn = True

    def take_turn(self) -> bool:
        """Wait until this thread may write; True if it then holds the turn, which `end_turn` gives up.

        False when it did not wait: the thread already holds the turn for another of its
        connections, or the turn did not come within the timeout.
        """
        self._for_this_process()
        if self._holder == threading.get_ident():
            return False
        deadline = time.monotonic() + self._timeout
        if not self._in_process.acquire(timeout=self._timeout):
            return False
        try:
            lock_file = self._open_lock_file()
        except OSError:
            # The database's folder is missing or read-only: SQLite will say so, better than we can.
            self._in_process.release()
            return False
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._in_process.release()
                    return False
                time.sleep(POLL_SECONDS)
        self._holder = threading.get_ident()
        return True

    def end_turn(self) -> None:
        self._holder = None
        fcntl.flock(self._open_lock_file(), fcntl.LOCK_UN)
        self._in_process.release()

    def _for_this_process(self) -> None:
        # A forked worker must not share its parent's file description (it would share its
        # flock too) nor a thread lock copied while some parent thread held it.
        if self._process_id == os.getpid():
            return
        self._process_id = os.getpid()
        self._in_process = threading.Lock()
        self._holder: int | None = None
        self._lock_file: int | None = None

    def _open_lock_file(self) -> int:
        # Opened by the thread holding `_in_process`, so once per process.
        if self._lock_file is None:
            self._lock_file = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._lock_file


def _turn_giving_connection(queue: WriterQueue) -> type[sqlite3.Connection]:
    """A sqlite3 connection class (sqlite3.connect's `factory`) whose transaction gives up the writer's
    turn, if it holds one, as its COMMIT or ROLLBACK is done, or as it closes.

    Not later, when the pool gets the connection back: a connection kept after its commit
    would keep every other writer waiting.
    """

    class TurnGivingConnection(sqlite3.Connection):
        holds_turn = False

        def commit(self) -> None:
            self._end_turn_after(super().commit)

        def rollback(self) -> None:
            self._end_turn_after(super().rollback)

        def close(self) -> None:
            self._end_turn_after(super().close)

        def _end_turn_after(self, end_transaction: Callable[[], None]) -> None:
            try:
                end_transaction()
            finally:
                if self.holds_turn:
                    self.holds_turn = False
                    queue.end_turn()

    return TurnGivingConnection
