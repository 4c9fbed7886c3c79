"""The scheduler, on a clock the tests move: each job at its interval, one at a time, a failing
job logged and run again, and a stop that lets the job in progress finish."""

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest

from portal.jobs.schedule import WAKE_EVERY, Job, Scheduler


class FakeClock:
    """Time that moves only when the scheduler sleeps or a job says it took a while."""

    def __init__(self, *, stop_at: float):
        self.now = 0.0
        self.stop_at = stop_at
        self.scheduler: Scheduler | None = None

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= WAKE_EVERY
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move time on; at `stop_at` the scheduler is asked to stop, as a signal would."""
        self.now += seconds
        if self.now >= self.stop_at:
            self.scheduler.stop()


def recording(name: str, every: timedelta, runs: dict, clock_box: list, *, takes: float = 0.0) -> Job:
    """A job that notes when it starts and takes `takes` seconds of the fake clock."""

    def run():
        clock = clock_box[0]
        runs.setdefault(name, []).append(clock.now)
        if takes:
            clock.advance(takes)
        return f"{name} done"

    return Job(name, every, run)


@pytest.fixture
def clock_box():
    """Jobs are built before their clock; they find it here."""
    return []


def run_recorded(stop_at: float, jobs: list[Job], clock_box: list, **options) -> None:
    clock = FakeClock(stop_at=stop_at)
    clock_box.append(clock)
    clock.scheduler = Scheduler(jobs, clock=clock, **options)
    clock.scheduler.run()


def test_each_job_runs_at_once_then_at_its_own_interval(clock_box):
    runs: dict[str, list[float]] = {}
    jobs = [recording("outbox", timedelta(seconds=60), runs, clock_box),
            recording("autopay", timedelta(minutes=15), runs, clock_box)]

    run_recorded(30 * 60, jobs, clock_box)

    assert runs["outbox"] == [60.0 * n for n in range(30)]
    assert runs["autopay"] == [0.0, 900.0]


def test_the_interval_counts_from_the_start_of_a_run(clock_box):
    runs: dict[str, list[float]] = {}

    run_recorded(200, [recording("reconcile", timedelta(seconds=60), runs, clock_box, takes=10)], clock_box)

    assert runs["reconcile"] == [0.0, 60.0, 120.0, 180.0]


def test_a_job_that_overruns_is_not_run_again_to_catch_up_and_the_others_get_their_turn(clock_box):
    runs: dict[str, list[float]] = {}
    jobs = [recording("slow", timedelta(seconds=60), runs, clock_box, takes=150),
            recording("quick", timedelta(seconds=60), runs, clock_box)]

    run_recorded(500, jobs, clock_box)

    # Jobs take turns, the one due earliest first: `slow` never runs back to back while `quick` waits.
    assert runs["slow"] == [0.0, 150.0, 300.0, 450.0]
    assert runs["quick"] == [150.0, 300.0, 450.0]


def test_a_failing_job_is_logged_and_neither_stops_the_others_nor_its_own_next_runs(clock_box, caplog):
    runs: dict[str, list[float]] = {}

    def fail():
        runs.setdefault("autopay", []).append(clock_box[0].now)
        raise RuntimeError("the database went away")

    jobs = [Job("autopay", timedelta(seconds=100), fail), recording("outbox", timedelta(seconds=60), runs, clock_box)]

    with caplog.at_level(logging.INFO, logger="portal.jobs.schedule"):
        run_recorded(250, jobs, clock_box)

    assert runs == {"autopay": [0.0, 100.0, 200.0], "outbox": [0.0, 60.0, 120.0, 180.0, 240.0]}
    failures = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in failures] == ["autopay failed (0.0 s); it runs again in 100 s"] * 3
    assert all(record.exc_info[0] is RuntimeError for record in failures)
    assert sum(record.getMessage().startswith("outbox: outbox done (") for record in caplog.records) == 5


def test_each_run_logs_one_line_with_what_the_job_returned(clock_box, caplog):
    with caplog.at_level(logging.INFO, logger="portal.jobs.schedule"):
        run_recorded(1, [Job("outbox", timedelta(seconds=60), lambda: "3 e-mail(s) sent")], clock_box)

    assert [record.getMessage() for record in caplog.records] == ["outbox: 3 e-mail(s) sent (0.0 s)"]


def test_each_run_is_wrapped_in_a_context_of_its_own(clock_box):
    opened: list[str] = []

    @contextmanager
    def context():
        opened.append("enter")
        yield
        opened.append("exit")

    def run():
        assert opened[-1] == "enter"
        return "ran"

    run_recorded(150, [Job("reconcile", timedelta(seconds=60), run)], clock_box, context=context)

    assert opened == ["enter", "exit"] * 3


def test_a_context_that_cannot_open_counts_as_a_failed_run(clock_box, caplog):
    def context():
        raise ConnectionError("no database")

    with caplog.at_level(logging.ERROR, logger="portal.jobs.schedule"):
        run_recorded(90, [Job("outbox", timedelta(seconds=60), lambda: "sent")], clock_box, context=context)

    assert [record.getMessage() for record in caplog.records] == ["outbox failed (0.0 s); it runs again in 1 min"] * 2


def test_a_stop_asked_during_a_job_lets_it_finish_and_starts_no_other(clock_box):
    finished: list[str] = []

    def first():
        clock_box[0].scheduler.stop()
        finished.append("first")
        return "done"

    def second():
        finished.append("second")
        return "done"

    run_recorded(10_000, [Job("first", timedelta(seconds=60), first), Job("second", timedelta(seconds=60), second)],
                 clock_box)

    assert finished == ["first"]


def test_with_the_real_clock_a_stop_from_another_thread_ends_the_wait_within_a_second():
    runs = []
    scheduler = Scheduler([Job("autopay", timedelta(hours=1), lambda: runs.append(1) or "ran")])
    thread = threading.Thread(target=scheduler.run)
    thread.start()
    try:
        while not runs:
            threading.Event().wait(0.01)
        scheduler.stop()
        thread.join(timeout=WAKE_EVERY + 2)
        assert not thread.is_alive()
    finally:
        scheduler.stop()
        thread.join()
    assert runs == [1]


def test_a_job_needs_a_positive_interval():
    with pytest.raises(ValueError, match="positive interval"):
        Scheduler([Job("outbox", timedelta(0), lambda: "sent")])


def test_with_no_jobs_it_waits_until_stopped(clock_box):
    run_recorded(5, [], clock_box)

    assert clock_box[0].now == 5
