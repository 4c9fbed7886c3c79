"""A small scheduler: periodic jobs, run one at a time in one process, until asked to stop.

There is no Flask here. A job is a name, an interval and a callable returning a line of
figures; `context` wraps each run (the worker passes the app's `app_context`, so every run
has a session of its own). Time comes from a `Clock`, so tests drive it without sleeping.
"""

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

log = logging.getLogger(__name__)

#: The longest the scheduler sleeps at once: a stop request is noticed within this many seconds.
WAKE_EVERY = 1.0


@dataclass(frozen=True)
class Job:
    """`run` every `every`; it returns what it did, in a line, for the log."""

    name: str
    every: timedelta
    run: Callable[[], str]


def describe_interval(every: timedelta) -> str:
    """`every` for the log: "15 min", "90 s"."""
    seconds = every.total_seconds()
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The machine's monotonic clock (a change of the wall clock moves no job)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Scheduler:
    """Runs each job at once, then every `job.every` from the start of its last run, until `stop()`.

    Jobs run one after another, the one due earliest first, so a job that overruns delays
    the others but never runs twice at the same time, and is not run again to catch up
    what it missed. A job that raises is logged and runs again at its next turn.
    """

    def __init__(self, jobs: Iterable[Job], *, clock: Clock | None = None,
                 context: Callable[[], AbstractContextManager] = nullcontext):
        self.jobs = list(jobs)
        for job in self.jobs:
            if job.every <= timedelta(0):
                raise ValueError(f"job {job.name!r} must have a positive interval, not {job.every}")
        self._clock = clock or SystemClock()
        self._context = context
        self._stop_requested = False

    def stop(self) -> None:
        """Let the job in progress finish, then return from `run()`; safe from a signal handler or another thread."""
        self._stop_requested = True

    @property
    def stopping(self) -> bool:
        return self._stop_requested

    def run(self) -> None:
        """Run the jobs on their schedule until `stop()` is called."""
        clock = self._clock
        start = clock.monotonic()
        # [when due, turn, job]: of jobs due at the same time the one that ran least recently goes
        # first (then the order given), so overdue jobs take turns instead of one starving another.
        queue = [[start, position - len(self.jobs), job] for position, job in enumerate(self.jobs)]
        turns = 0
        while not self._stop_requested:
            now = clock.monotonic()
            if not queue:
                clock.sleep(WAKE_EVERY)
                continue
            entry = min(queue, key=lambda item: (item[0], item[1]))
            due, _, job = entry
            if due > now:
                clock.sleep(min(due - now, WAKE_EVERY))
                continue
            self._run_once(job)
            entry[0] = now + job.every.total_seconds()
            entry[1] = turns
            turns += 1

    def _run_once(self, job: Job) -> None:
        began = self._clock.monotonic()
        try:
            with self._context():
                summary = job.run()
        except Exception:
            log.exception("%s failed (%.1f s); it runs again in %s", job.name, self._clock.monotonic() - began,
                          describe_interval(job.every))
            return
        log.info("%s: %s (%.1f s)", job.name, summary, self._clock.monotonic() - began)
