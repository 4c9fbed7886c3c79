"""`acquit worker`: autopay, reconcile, expiring unapproved payments, reminders, monthly statements and outbox
delivery on a schedule, in one process.

Each job is also a command of its own for cron (`acquit autopay run`, `acquit payments
reconcile`, `acquit outbox deliver`), and each is safe to run on several machines at once:
autopay claims each invoice's attempt, settling a payment is idempotent, and the outbox
claims each message before sending it. So any number of workers may share one PostgreSQL.
Every unit of work (an invoice charged, a payment settled, an e-mail sent) commits on its
own, so stopping a worker at any moment loses nothing.
"""

import logging
import signal
import threading
from datetime import timedelta
from functools import partial

from flask import Flask

from portal import clock
from portal.autopay.run import AutopayContext, run_autopay
from portal.extensions import db
from portal.jobs.schedule import Job, Scheduler, describe_interval
from portal.mail import outbox
from portal.payments.context import PaymentContext
from portal.request_hooks import deliver_enqueued_mail
from portal.services import services_of

log = logging.getLogger(__name__)

#: Payments wait days for approval (see portal.approvals.service.EXPIRES_AFTER): a quarter-hour is timely.
APPROVALS_EVERY = timedelta(minutes=15)


def worker_jobs(app: Flask) -> list[Job]:
    """The jobs `app`'s configuration calls for; says once in the log which it leaves out and why."""
    config = app.config
    jobs = []
    services = services_of(app)
    # Autopay's context holds the payment context: both there, or card payments are not configured.
    autopay = services.autopay
    if autopay is None:
        log.warning("Card payments are not configured (STRIPE_SECRET_KEY): the worker runs no autopay and no "
                    "reconcile.")
    else:
        jobs.append(Job("autopay", timedelta(minutes=config["ACQUIT_WORKER_AUTOPAY_MINUTES"]),
                        partial(run_autopay_job, app, autopay)))
        jobs.append(Job("reconcile", timedelta(seconds=config["ACQUIT_WORKER_RECONCILE_SECONDS"]),
                        partial(run_reconcile_job, app, autopay.payments)))
        jobs.append(Job("approvals", APPROVALS_EVERY, partial(run_approvals_job, app, autopay.payments)))
    jobs.append(Job("reminders", timedelta(minutes=config["ACQUIT_WORKER_REMINDERS_MINUTES"]),
                    partial(run_reminders_job, app)))
    jobs.append(Job("statements", timedelta(minutes=config["ACQUIT_WORKER_REMINDERS_MINUTES"]),
                    partial(run_statements_job, app)))
    if services.smtp is None:
        # Delivering would only log every waiting e-mail again each round.
        log.warning("No SMTP server configured (ACQUIT_SMTP_HOST): the worker does not deliver the outbox; "
                    "e-mails its jobs write are shown in the log.")
    else:
        jobs.append(Job("outbox", timedelta(seconds=config["ACQUIT_WORKER_OUTBOX_SECONDS"]),
                        partial(run_outbox_job, app)))
    return jobs


def run_autopay_job(app: Flask, context: AutopayContext) -> str:
    """One autopay run for today; in an app context."""
    report = run_autopay(db.session, context, as_of=clock.today())
    # Its notices and receipts go now, as a request's do, rather than at the outbox's next round.
    deliver_enqueued_mail(app)
    return report.summary()


def run_reminders_job(app: Flask) -> str:
    """One reminder run for today; in an app context."""
    from portal.reminders.run import run_reminders

    report = run_reminders(db.session, services_of(app).reminders, as_of=clock.today())
    deliver_enqueued_mail(app)
    return report.summary()


def run_statements_job(app: Flask) -> str:
    """E-mail last month's statement to each subscribed company that has not had it; in an app context."""
    from portal.statements.monthly import send_monthly_statements

    report = send_monthly_statements(db.session, as_of=clock.today(), supplier_name=app.config["ACQUIT_SUPPLIER_NAME"],
                                     base_url=app.config["ACQUIT_BASE_URL"])
    deliver_enqueued_mail(app)
    return report.summary()


def run_reconcile_job(app: Flask, payments: PaymentContext) -> str:
    """One reconcile round; in an app context."""
    from portal.payments.provider_events import reconcile

    report = reconcile(db.session, payments)
    deliver_enqueued_mail(app)
    return report.summary()


def run_approvals_job(app: Flask, payments: PaymentContext) -> str:
    """Expire the payments left waiting for approval too long, telling their preparers; in an app context."""
    from portal.approvals.service import expire_overdue

    expired = expire_overdue(db.session, payments)
    db.session.commit()
    deliver_enqueued_mail(app)
    return f"{expired} waiting payment(s) expired"


def run_outbox_job(app: Flask) -> str:
    """Send what waits in the outbox; in an app context."""
    sent = outbox.deliver(db.session, services_of(app).smtp)
    db.session.commit()
    return f"{sent} e-mail(s) sent"


def run_worker(app: Flask) -> None:
    """Run the jobs until SIGTERM or SIGINT (from the main thread): the job in progress finishes
    first; a second signal stops at once."""
    scheduler = Scheduler(worker_jobs(app), context=app.app_context)
    received: list[str] = []

    def stop(signum, _frame):
        if scheduler.stopping:
            raise KeyboardInterrupt
        received.append(signal.Signals(signum).name)
        scheduler.stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    log.info("Worker started: %s.", _describe(scheduler.jobs) or "no jobs to run")
    try:
        scheduler.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("Worker stopped (%s).", ", ".join(received) or "asked to")


class BackgroundWorker:
    """The worker in a daemon thread of this process (the demo's); `stop()` ends it."""

    def __init__(self, app: Flask):
        self.scheduler = Scheduler(worker_jobs(app), context=app.app_context)
        self._thread = threading.Thread(target=self.scheduler.run, name="acquit-worker", daemon=True)

    def start(self) -> None:
        log.info("Worker started in the background: %s.", _describe(self.scheduler.jobs) or "no jobs to run")
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Let the job in progress finish (up to `timeout` seconds), then return."""
        self.scheduler.stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("Worker still busy after %s s; left to end with the process.", timeout)
        else:
            log.info("Worker stopped.")


def _describe(jobs: list[Job]) -> str:
    return ", ".join(f"{job.name} every {describe_interval(job.every)}" for job in jobs)
