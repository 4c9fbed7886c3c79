"""`acquit autopay run` as an operator runs it: real processes on a real database, charging localstripe.

- Two runs started together (two cron entries, two machines) over 1,000 due invoices charge
  each invoice exactly once. On PostgreSQL the runs pass each other by (`FOR UPDATE SKIP
  LOCKED` on the invoice, then the unique attempt row); on SQLite, which has one writer at a
  time, they take turns (BEGIN IMMEDIATE) and the unique attempt row decides: a different
  path to the same promise, so it is proven too. Each variant runs in the suite that uses
  its database (scripts/test, scripts/test-postgres), so CI runs both.
- A run killed with SIGKILL halfway, started again at once, then run once more after the
  time an orphaned claim is given, finishes the work without a second charge.

What is counted: the PaymentIntents and succeeded charges at localstripe, per invoice by the
`payment_key` in their metadata (`autopay-<invoice>-<n>`), the payments in the database, and
the receipts an SMTP server received (each run sends the e-mails it wrote).
"""

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from portal.app import create_app
from portal.db import make_engine
from portal.demo import DEMO_SUPPLIER
from portal.extensions import db as database
from portal.models import (
    AutopayAttempt,
    AutopayAttemptStatus,
    Invoice,
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentStatus,
)
from portal.services import services_of
from tests.autopay.conftest import enrol_as_clerk
from tests.builders import Builders
from tests.conftest import TEST_SECRET_KEY as APP_SECRET_KEY
from tests.conftest import app_config, migrated_database
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY
from tests.payments.conftest import WEBHOOK_SECRET, save_card_through_service, stripe_config

REPO = Path(__file__).resolve().parents[2]
ACQUIT = Path(sys.executable).parent / "acquit"
DUE = date(2026, 12, 15)
ENROLLED_ON = DUE - timedelta(days=30)
ON_POSTGRESQL = bool(os.environ.get("ACQUIT_TEST_DATABASE_URL"))
REPORT_LINE = re.compile(r"(\d+) charged, (\d+) declined, .* (\d+) errors\.")


@dataclass
class Seeded:
    database_url: str
    invoice_totals: dict[int, int]  # invoice id -> amount due
    invoice_numbers: list[str]
    customers: dict[str, int]  # provider customer id -> how many of its invoices are due


@pytest.fixture
def run_database(request, tmp_path_factory) -> str:
    """A fresh database of the suite's kind (SQLite file, or on ACQUIT_TEST_DATABASE_URL's server), migrated."""
    name = "autopay_" + re.sub(r"\W+", "_", request.node.name)[:30].strip("_")
    return migrated_database(tmp_path_factory, name)


def seed_due_invoices(database_url: str, server, stripe_api, *, companies: int, invoices_each: int) -> Seeded:
    """`companies` companies, each enrolled in autopay on a card saved at localstripe, with invoices due on DUE."""
    app = create_app(app_config(database_url, **stripe_config(server)))
    payments = services_of(app).payments
    engine = make_engine(database_url)
    totals: dict[int, int] = {}
    numbers: list[str] = []
    customers: dict[str, int] = {}
    try:
        with sessionmaker(bind=engine, expire_on_commit=False)() as session:
            make = Builders(session)
            for c in range(companies):
                company = make.company(locale="en")
                payer = make.user(company, locale="en")
                session.commit()
                card = save_card_through_service(session, payments, stripe_api, company=company, user=payer)
                enrol_as_clerk(session, payer, company, card, today=ENROLLED_ON)
                for n in range(invoices_each):
                    invoice = make.invoice(company, total=1_000 + 7 * (c * invoices_each + n), due_date=DUE)
                    totals[invoice.id] = invoice.amount_due
                    numbers.append(invoice.number)
                session.commit()
                customers[company.provider_customer_id] = invoices_each
    finally:
        engine.dispose()
        with app.app_context():
            database.engine.dispose()
    return Seeded(database_url, totals, numbers, customers)


@pytest.fixture
def acquit(run_database, stripe_server, smtp_server, tmp_path):
    """`acquit(*args)` starts the `acquit` command in a process of its own, configured through the environment
    as in production: on `run_database`, charging localstripe, sending its e-mails to `smtp_server`."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ACQUIT_", "STRIPE_", "FLASK_"))}
    env.update({
        **DEMO_SUPPLIER,
        "ACQUIT_DATABASE_URL": run_database,
        "ACQUIT_SECRET_KEY": APP_SECRET_KEY,
        "ACQUIT_BASE_URL": "http://portal.test",
        "ACQUIT_ATTACHMENT_DIR": str(tmp_path / "attachments"),
        "ACQUIT_SMTP_HOST": smtp_server.host,
        "ACQUIT_SMTP_PORT": str(smtp_server.port),
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ACQUIT_STRIPE_API_BASE": stripe_server.api_base,
    })

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([str(ACQUIT), *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    return start


def autopay_run(acquit, as_of: date) -> subprocess.Popen:
    return acquit("autopay", "run", "--as-of", as_of.isoformat())


def finished(process: subprocess.Popen, timeout: float = 600) -> int:
    """Wait for a run to exit 0; returns how many invoices it says it charged."""
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-5000:]
    report = REPORT_LINE.search(output)
    assert report, output[-5000:]
    return int(report.group(1))


def receipts_per_invoice(smtp_server) -> Counter:
    """How many receipts the SMTP server received for each invoice number."""
    settled = Counter()
    for mail in smtp_server.messages:
        if mail.message["Subject"].startswith("Payment received"):
            settled.update(re.findall(r"^- (\S+): ", mail.text_body(), re.MULTILINE))
    return settled


def charges_per_invoice(server, invoice_totals: dict[int, int]) -> Counter:
    """How many succeeded charges localstripe holds for each invoice, told by their PaymentIntents' `payment_key`
    (`autopay-<invoice>-<n>`); each of the right amount."""
    invoice_of = {intent["id"]: int(intent["metadata"]["payment_key"].split("-")[1])
                  for intent in server.payment_intents()}
    charged = Counter()
    for charge in server.succeeded_charges():
        invoice_id = invoice_of[charge["payment_intent"]]
        assert charge["amount"] == invoice_totals[invoice_id], charge
        charged[invoice_id] += 1
    return charged


def assert_each_invoice_charged_exactly_once(seeded: Seeded, server) -> None:
    """localstripe and the database agree: one succeeded charge and one succeeded payment of its amount per invoice."""
    keys = Counter(intent["metadata"].get("payment_key") for intent in server.payment_intents())
    assert keys == Counter({f"autopay-{invoice_id}-1": 1 for invoice_id in seeded.invoice_totals}), (
        "PaymentIntents other than one per invoice: "
        + repr([(key, n) for key, n in keys.items() if n != 1 or key is None][:10]))
    assert charges_per_invoice(server, seeded.invoice_totals) == Counter(dict.fromkeys(seeded.invoice_totals, 1))
    per_customer = Counter(charge["customer"] for charge in server.succeeded_charges())
    assert per_customer == Counter(seeded.customers)

    engine = make_engine(seeded.database_url)
    try:
        with Session(engine) as session:
            by_status = dict(session.execute(select(Payment.status, func.count()).group_by(Payment.status)).all())
            assert by_status == {PaymentStatus.SUCCEEDED: len(seeded.invoice_totals)}
            assert payments_per_invoice(session) == Counter(dict.fromkeys(seeded.invoice_totals, 1))
            assert nothing_owing_or_held(session)
            attempts = session.execute(select(AutopayAttempt.attempt_number, AutopayAttempt.status)).all()
            assert Counter(attempts) == Counter({(1, AutopayAttemptStatus.SUCCEEDED): len(seeded.invoice_totals)})
    finally:
        engine.dispose()


def payments_per_invoice(session: Session) -> Counter:
    """How many succeeded payments settle each invoice."""
    return Counter(dict(session.execute(
        select(PaymentAllocation.invoice_id, func.count()).join(Payment)
        .where(Payment.status == PaymentStatus.SUCCEEDED).group_by(PaymentAllocation.invoice_id)).all()))


def nothing_owing_or_held(session: Session) -> bool:
    owing = session.scalar(select(func.count()).select_from(Invoice).where(
        Invoice.amount_total - Invoice.amount_paid - Invoice.amount_credited > 0))
    return owing == 0 and session.scalar(select(func.count()).select_from(InvoicePaymentClaim)) == 0


@pytest.mark.slow
@pytest.mark.parametrize("database", [
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not ON_POSTGRESQL, reason="needs PostgreSQL: ACQUIT_TEST_DATABASE_URL is unset (scripts/test-postgres "
                                  "sets it; CI runs it there)")),
    pytest.param("sqlite", marks=pytest.mark.skipif(
        ON_POSTGRESQL, reason="this suite runs on PostgreSQL; the SQLite variant runs under scripts/test")),
])
def test_two_runs_started_together_charge_each_of_1000_due_invoices_exactly_once(
        database, run_database, stripe_server, stripe_api, smtp_server, acquit):
    assert run_database.startswith("postgresql" if database == "postgresql" else "sqlite")
    seeded = seed_due_invoices(run_database, stripe_server, stripe_api, companies=40, invoices_each=25)

    runs = [autopay_run(acquit, DUE) for _ in range(2)]
    charged = [finished(run) for run in runs]

    # Both runs did part of the work: they really ran at the same time.
    assert sum(charged) == 1000 and min(charged) > 0, charged
    assert_each_invoice_charged_exactly_once(seeded, stripe_server)
    # Each run sends the e-mails it wrote: every payer got one receipt per invoice.
    assert receipts_per_invoice(smtp_server) == Counter(seeded.invoice_numbers)
    again = autopay_run(acquit, DUE + timedelta(days=1))
    assert finished(again) == 0
    assert len(stripe_server.payment_intents()) == 1000


def backdate_unfinished_work(database_url: str, by: timedelta) -> None:
    """Age the claims and payments a dead run left, as if `by` had passed."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            attempts = session.scalars(select(AutopayAttempt).where(
                AutopayAttempt.status.in_([AutopayAttemptStatus.CLAIMED, AutopayAttemptStatus.PROCESSING]))).all()
            payments = session.scalars(select(Payment).where(Payment.status != PaymentStatus.SUCCEEDED)).all()
            for row in [*attempts, *payments]:
                row.created_at -= by
            session.commit()
    finally:
        engine.dispose()


def succeeded_payments(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Payment)
                              .where(Payment.status == PaymentStatus.SUCCEEDED))


def test_a_run_killed_halfway_and_started_again_finishes_without_a_second_charge(
        run_database, stripe_server, stripe_api, smtp_server, acquit):
    seeded = seed_due_invoices(run_database, stripe_server, stripe_api, companies=8, invoices_each=25)

    first = autopay_run(acquit, DUE)
    engine = make_engine(run_database)
    # Against a hang, not a speed target: a loaded two-core machine took over two minutes.
    deadline = time.monotonic() + 300
    try:
        while succeeded_payments(engine) < 60:
            assert first.poll() is None, "the run ended before it could be killed:\n" + first.communicate()[0]
            assert time.monotonic() < deadline, "the run charged too slowly"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
    finally:
        engine.dispose()
    first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert 60 <= len(stripe_server.succeeded_charges()) < 200

    # Started again at once: it charges what nobody had begun, leaves what the dead run held.
    restarted = finished(autopay_run(acquit, DUE))
    assert restarted > 0
    keys = Counter(intent["metadata"]["payment_key"] for intent in stripe_server.payment_intents())
    assert max(keys.values()) == 1
    assert max(charges_per_invoice(stripe_server, seeded.invoice_totals).values()) == 1

    # A quarter of an hour later the next run takes over what the dead run left.
    backdate_unfinished_work(run_database, timedelta(minutes=15))
    finished(autopay_run(acquit, DUE))

    once = Counter(dict.fromkeys(seeded.invoice_totals, 1))
    assert charges_per_invoice(stripe_server, seeded.invoice_totals) == once
    engine = make_engine(run_database)
    try:
        with Session(engine) as session:
            assert payments_per_invoice(session) == once
            assert nothing_owing_or_held(session)
    finally:
        engine.dispose()
    # The dead run never sent the receipts it wrote: the outbox still has them, and sends each once.
    delivery = acquit("outbox", "deliver")
    output, _ = delivery.communicate(timeout=120)
    assert delivery.returncode == 0, output
    assert receipts_per_invoice(smtp_server) == Counter(seeded.invoice_numbers)
