"""A queue in front of SQLite's write lock, so that it passes from one writer to the next at once.

SQLite lets one transaction write at a time. One that finds the lock taken sleeps and tries
again, in ever longer sleeps (1, 2, 5, 10, … 100 ms, the busy handler's schedule): under a
steady stream of API writes from gunicorn's threads and processes the lock was then free
much of the time while every writer was still asleep (single invoices at about 100–145 a
second for a lock held 4.5 ms each, and a p95 of 200–350 ms). Here a writer first waits its
turn: behind a lock of its own process, which wakes the next thread as soon as it is
released, then behind a file lock (flock) that every process shares, which the one thread at
the head of each process's queue tries every half millisecond. The turn ends when the
connection goes back to the pool, right after its COMMIT or ROLLBACK.

SQLite's lock remains what keeps writers apart: a writer that could not get its turn within
the busy timeout goes on and lets SQLite decide, as it would without the queue, and writers
that do not begin with `portal.db.begin_write` (or other programs) simply do not queue.
"""

import fcntl
import os
import threading
import time
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

# How often the head of a process's queue tries the lock shared with other processes: a
# non-blocking flock costs microseconds; blocking would have no timeout.
POLL_SECONDS = 0.0005
# Set in a pooled connection's `info` while its transaction holds the turn.
_HOLDS_TURN = "acquit_holds_writer_turn"


class WriterQueue:
    """Writers' turns for one SQLite database file, across this process's threads and other processes."""

    def __init__(self, lock_path: str, timeout: float):
        self._lock_path = lock_path
        self._timeout = timeout
        self._process_id: int | None = None
        self._for_this_process()

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


def queue_writers(engine: Engine, database_path: str, timeout: float) -> Callable[[Connection], None]:
    """Queue `engine`'s writers on the database file `database_path`; returns what a connection about
    to begin as a writer (BEGIN IMMEDIATE) calls first, to wait for its turn.

    The turn is held until the connection is checked in. The lock file lies next to the
    database, as SQLite's own -wal and -shm files do.
    """
    queue = WriterQueue(f"{database_path}-writers.lock", timeout)

    @event.listens_for(engine, "checkin")
    def _end_turn(_dbapi_connection, connection_record):
        if connection_record.info.pop(_HOLDS_TURN, False):
            queue.end_turn()

    def wait_for_turn(connection: Connection) -> None:
        if queue.take_turn():
            connection.info[_HOLDS_TURN] = True

    return wait_for_turn
