"""`acquit worker`: the jobs the configuration calls for, what one round of them does, and a
real worker process that runs them on schedule and stops on SIGTERM or SIGINT."""

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import clock
from portal.approvals.service import set_rule, submit_payment
from portal.audit import Actor
from portal.autopay.enrolment import EnrolmentTerms, MandateContext, enrol, mandate_text
from portal.db import make_engine
from portal.demo import DEMO_SUPPLIER
from portal.jobs.worker import worker_jobs
from portal.mail import outbox
from portal.mail.compose import ComposedEmail
from portal.models import ApprovalStatus, OutboxMessage, Payment, PaymentStatus, Role
from portal.payments import fake_gateway
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.charging import PaymentRequest
from portal.services import services_of
from tests.conftest import TEST_SECRET_KEY

REMINDER = ComposedEmail(subject="Your statement", text="Your statement is attached.", html=None)


@pytest.fixture
def app_overrides(smtp_server):
    return {**smtp_server.app_config, "ACQUIT_WORKER_AUTOPAY_MINUTES": 5, "ACQUIT_WORKER_RECONCILE_SECONDS": 30,
            "ACQUIT_WORKER_OUTBOX_SECONDS": 20, "ACQUIT_WORKER_REMINDERS_MINUTES": 30}


def test_the_jobs_and_their_intervals_come_from_the_configuration(app):
    jobs = worker_jobs(app)

    assert [(job.name, job.every) for job in jobs] == [
        ("autopay", timedelta(minutes=5)), ("reconcile", timedelta(seconds=30)), ("approvals", timedelta(minutes=15)),
        ("reminders", timedelta(minutes=30)), ("statements", timedelta(minutes=30)), ("outbox", timedelta(seconds=20))]


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_PAYMENT_GATEWAY": None, "ACQUIT_SMTP_HOST": None}])
def test_without_card_payments_or_smtp_the_worker_leaves_their_jobs_out_and_says_so(app, caplog):
    with caplog.at_level(logging.WARNING, logger="portal.jobs.worker"):
        jobs = worker_jobs(app)

    assert [job.name for job in jobs] == ["reminders", "statements"]
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "Card payments are not configured (STRIPE_SECRET_KEY)", "No SMTP server configured (ACQUIT_SMTP_HOST)"]


def enrolled_on_autopay(db, app, company, payer):
    """`company` enrolled by `payer` on a card of the app's in-memory gateway, committed."""
    payments = services_of(app).payments
    setup = start_saving_card(db, payments, company=company, email=payer.email)
    payments.gateway.complete_setup(setup.setup_id, fake_gateway.SUCCEEDS)
    card = finish_saving_card(db, payments, Actor.user(payer), company=company, setup_id=setup.setup_id)
    terms = EnrolmentTerms(card_id=card.id, days_before_due=0)
    mandate = MandateContext(supplier_name="Supplier", locale="en", settings=services_of(app).autopay_settings,
                             today=clock.today())
    enrol(db, payer, company=company, terms=terms, accepted_text=mandate_text(db, company, terms, mandate),
          ip_address="192.0.2.1", context=mandate)
    db.commit()


def test_one_round_charges_what_autopay_owes_today_and_sends_the_outbox(app, db, make, smtp_server):
    company = make.company(locale="en")
    payer = make.user(company, locale="en")
    enrolled_on_autopay(db, app, company, payer)
    invoice = make.invoice(company, total=250_00, due_date=clock.today())
    outbox.enqueue(db, ["ap@customer.test"], REMINDER)
    db.commit()
    smtp_server.messages.clear()

    summaries = {}
    for job in worker_jobs(app):
        with app.app_context():
            summaries[job.name] = job.run()

    assert summaries["autopay"].startswith("1 charged, 0 declined, ")
    assert summaries["reconcile"] == "0 checked: 0 settled, 0 failed, 0 still open, 0 could not be checked"
    assert summaries["approvals"] == "0 waiting payment(s) expired"
    db.refresh(invoice)
    assert invoice.amount_due == 0
    assert db.scalar(select(Payment.status).where(Payment.company_id == company.id)) == PaymentStatus.SUCCEEDED
    # What autopay wrote went out with its run, as a request's mail does; the rest with the outbox's.
    received = [(message.recipients, message.message["Subject"].split(" — ")[0]) for message in smtp_server.messages]
    assert received == [
        ([payer.email], "Autopay: upcoming charges to Visa •••• 4242"),
        # The receipt goes to the payer and to the company's billing recipients who receive receipts.
        ([payer.email, *company.billing_emails], "Payment received: €250.00"),
        ([payer.email], f"Autopay is on for {company.name}"),
        (["ap@customer.test"], "Your statement"),
    ]
    assert summaries["outbox"] == "2 e-mail(s) sent"
    assert db.scalars(select(OutboxMessage.status)).all() == ["sent"] * 4


# --- The command, as a process ---------------------------------------------------------------


class Output:
    """The lines a process writes to stderr (where the log goes), read as they come."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        assert sum(text in line for line in self.lines) >= count, (
            f"{text!r} not seen {count} time(s) in:\n" + "\n".join(self.lines))

    def rest(self, timeout: float = 10) -> list[str]:
        """Every line, once the process has closed its stderr."""
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                return self.lines
            if line is None:
                return self.lines
            self.lines.append(line)


def acquit_command() -> list[str]:
    """The `acquit` script installed next to this Python (the virtualenv's)."""
    script = Path(sys.executable).with_name("acquit")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from portal.cli import main; main()"]


@pytest.fixture
def worker_environment(tmp_path, smtp_server):
    """The environment of a worker on a new SQLite database brought to the latest schema, mailing `smtp_server`."""
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("ACQUIT_", "STRIPE_"))}
    environment.update({
        **DEMO_SUPPLIER,
        "ACQUIT_DATABASE_URL": f"sqlite:///{tmp_path / 'worker.sqlite3'}",
        "ACQUIT_SECRET_KEY": TEST_SECRET_KEY,
        "ACQUIT_ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "ACQUIT_SMTP_HOST": smtp_server.host,
        "ACQUIT_SMTP_PORT": str(smtp_server.port),
        "ACQUIT_WORKER_OUTBOX_SECONDS": "1",
    })
    upgrade = subprocess.run([*acquit_command(), "db", "upgrade"], env=environment, capture_output=True, text=True,
                             timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    return environment


def enqueue_into(database_url: str, subject: str) -> None:
    engine = make_engine(database_url)
    try:
        with Session(bind=engine) as session:
            outbox.enqueue(session, ["ap@customer.test"], ComposedEmail(subject=subject, text=subject, html=None))
            session.commit()
    finally:
        engine.dispose()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_worker_runs_its_jobs_on_schedule_until_stopped_by_a_signal(worker_environment, smtp_server,
                                                                        stop_signal):
    database_url = worker_environment["ACQUIT_DATABASE_URL"]
    enqueue_into(database_url, "First")
    worker = subprocess.Popen([*acquit_command(), "worker"], env=worker_environment, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        log = Output(worker.stderr)
        log.wait_for("Card payments are not configured")
        log.wait_for("Worker started: reminders every 60 min, statements every 60 min, outbox every 1 s.")
        log.wait_for("outbox: 1 e-mail(s) sent")
        enqueue_into(database_url, "Second")
        log.wait_for("outbox: 1 e-mail(s) sent", count=2)

        worker.send_signal(stop_signal)

        assert worker.wait(timeout=15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    lines = log.rest()
    assert f"Worker stopped ({stop_signal.name})." in lines[-1]
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    assert [message.message["Subject"] for message in smtp_server.messages] == ["First", "Second"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_demo_runs_the_worker_and_stopping_the_demo_stops_it(tmp_path):
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("ACQUIT_", "STRIPE_"))}
    environment.update({"ACQUIT_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
                        "ACQUIT_SECRET_KEY": TEST_SECRET_KEY, "ACQUIT_ATTACHMENT_DIR": str(tmp_path / "attachments")})
    stripe_port = free_port()
    demo = subprocess.Popen([*acquit_command(), "demo", "--port", str(free_port()), "--stripe-port", str(stripe_port)],
                            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        log = Output(demo.stderr)
        log.wait_for("Worker started in the background: autopay every 15 min, reconcile every 1 min, approvals every 15 min, "
                     "reminders every 60 min, statements every 60 min.", timeout=120)
        log.wait_for("reconcile: 0 checked")

        demo.send_signal(signal.SIGTERM)

        assert demo.wait(timeout=30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    lines = log.rest()
    assert any(line.endswith("portal.jobs.worker: Worker stopped.") for line in lines), "\n".join(lines)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", stripe_port), timeout=5).close()


def test_the_approvals_job_expires_payments_left_waiting_and_tells_their_preparer(app, db, make, smtp_server):
    company = make.company(locale="en")
    admin, payer = make.user(company, role=Role.ADMIN), make.user(company, locale="en")
    payments = services_of(app).payments
    setup = start_saving_card(db, payments, company=company, email=payer.email)
    payments.gateway.complete_setup(setup.setup_id, fake_gateway.SUCCEEDS)
    card = finish_saving_card(db, payments, Actor.user(payer), company=company, setup_id=setup.setup_id)
    set_rule(db, admin, company=company, threshold=100, payers_may_approve=False)
    approval = submit_payment(db, payments, payer, company=company, receipt_email=None,
                              request=PaymentRequest(invoice_ids=(make.invoice(company, total=5_000).id,),
                                                     attempt_key="k", card_id=card.id))
    approval.expires_at = approval.prepared_at  # as if the week had passed
    db.commit()
    [job] = [job for job in worker_jobs(app) if job.name == "approvals"]

    with app.app_context():
        assert job.run() == "1 waiting payment(s) expired"

    db.refresh(approval)
    assert approval.status == ApprovalStatus.EXPIRED
    assert [m.recipients for m in smtp_server.messages if "not approved in time" in m.message["Subject"]] == [
        [payer.email]]
