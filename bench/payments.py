"""How many card payments per second go through the whole path, against localstripe.

Run by hand: `.venv/bin/python bench/payments.py`. It prints figures and asserts nothing
about time. It starts localstripe (tests/localstripe_server.py) in a child process, builds
a fresh migrated SQLite file database (or a fresh PostgreSQL database under
BENCH_DATABASE_URL's server), gives each payer its own company, invoices and a card saved
through a SetupIntent, then measures:

  (a) the service: `pay_invoices` with a session of its own per payment, as a request has;
  (b) HTTP: the real app (create_app, CSRF on) on werkzeug's threaded server in this
      process; each payment is the payer's GET /payments/new?invoice=… (the form, with its
      attempt key) then POST /payments, over a keep-alive `requests` session.

each once with one payer paying one payment after another and once with several payers at
the same time. Every payment settles BENCH_INVOICES_PER_PAYMENT invoices with one charge;
afterwards the bench checks that the database and localstripe agree on every payment.
Settings come from the environment (BENCH_* below).
"""

import logging
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy
import stripe
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the localstripe rig

from portal import migrate  # noqa: E402
from portal.app import create_app  # noqa: E402
from portal.audit import Actor  # noqa: E402
from portal.db import make_engine  # noqa: E402
from portal.demo import DEMO_SUPPLIER  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Company, Payment, PaymentStatus  # noqa: E402
from portal.payments.cards import finish_saving_card, start_saving_card  # noqa: E402
from portal.payments.charging import PaymentRequest, pay_invoices  # noqa: E402
from portal.services import services_of
from tests.builders import Builders  # noqa: E402
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, LocalStripe  # noqa: E402

PAYMENTS = int(os.environ.get("BENCH_PAYMENTS", 150))  # per run (sequential or concurrent)
PAYERS = int(os.environ.get("BENCH_PAYERS", 4))  # payers at the same time in the concurrent runs
INVOICES_PER_PAYMENT = int(os.environ.get("BENCH_INVOICES_PER_PAYMENT", 3))
DATABASE_SERVER_URL = os.environ.get("BENCH_DATABASE_URL")  # a PostgreSQL server; SQLite otherwise
WEBHOOK_SECRET = "whsec_bench"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ATTEMPT_FIELD = re.compile(r'name="attempt_key"[^>]*value="([0-9a-f]{32})"')


@dataclass
class Payer:
    company_id: int
    customer_id: str
    user_id: int
    email: str
    invoice_ids: list[int]

    def batches(self):
        for start in range(0, len(self.invoice_ids), INVOICES_PER_PAYMENT):
            yield self.invoice_ids[start:start + INVOICES_PER_PAYMENT]


@dataclass
class Run:
    label: str
    payers: int
    payments: int
    seconds: float
    latencies: list[float]

    def report(self) -> str:
        latencies = sorted(self.latencies)
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        return (f"  {self.label:42} {self.payments / self.seconds:7.1f} payments/s  "
                f"({self.payments} in {self.seconds:.2f} s, {self.payers} payer{'s' * (self.payers > 1)}; "
                f"per payment p50 {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms)")


def fresh_database(directory: str) -> str:
    if DATABASE_SERVER_URL:
        admin = make_engine(DATABASE_SERVER_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql('DROP DATABASE IF EXISTS "acquit_bench_payments" WITH (FORCE)')
            connection.exec_driver_sql('CREATE DATABASE "acquit_bench_payments"')
        admin.dispose()
        url = make_url(DATABASE_SERVER_URL).set(database="acquit_bench_payments").render_as_string(
            hide_password=False)
    else:
        url = f"sqlite:///{directory}/bench.sqlite3"
    migrate.upgrade(url)
    return url


def seed_payers(app, api: stripe.StripeClient, how_many: int, payments_each: int) -> list[Payer]:
    """Companies with a clerk, a card saved through a SetupIntent, and invoices to pay."""
    context = services_of(app).payments
    payers = []
    with app.app_context():
        session = sessionmaker(bind=make_engine(app.config["ACQUIT_DATABASE_URL"]), expire_on_commit=False)()
        make = Builders(session)
        for _ in range(how_many):
            company = make.company(locale="en")
            user = make.user(company, locale="en")
            invoices = [make.invoice(company, total=10_000 + 7 * n)
                        for n in range(payments_each * INVOICES_PER_PAYMENT)]
            session.commit()
            setup = start_saving_card(session, context, company=company, email=user.email)
            method = api.v1.payment_methods.create(
                {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
                                          "cvc": "123"}})
            api.v1.setup_intents.confirm(setup.setup_id, {"payment_method": method.id})
            finish_saving_card(session, context, Actor.user(user), company=company, setup_id=setup.setup_id)
            session.commit()
            payers.append(Payer(company.id, company.provider_customer_id, user.id, user.email,
                                [invoice.id for invoice in invoices]))
        session.close()
    return payers


def pay_through_service(app, engine, payer: Payer, latencies: list[float]) -> None:
    context = services_of(app).payments
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    actor = Actor(label=payer.email, user_id=payer.user_id)
    for number, batch in enumerate(payer.batches()):
        began = time.perf_counter()
        with app.app_context(), sessions() as session:
            company = session.get(Company, payer.company_id)
            payment = pay_invoices(session, context, actor, company=company, receipt_email=payer.email,
                                   request=PaymentRequest(invoice_ids=tuple(batch), attempt_key=f"bench-{number}"))
            session.commit()
            assert payment.status == PaymentStatus.SUCCEEDED, payment.failure_message
        latencies.append(time.perf_counter() - began)


def pay_through_http(base_url: str, payer: Payer, latencies: list[float]) -> None:
    browser = requests.Session()
    login = browser.get(f"{base_url}/login")
    signed_in = browser.post(f"{base_url}/login", allow_redirects=False, data={
        "email": payer.email, "password": Builders.PASSWORD, "csrf_token": CSRF_FIELD.search(login.text).group(1)})
    assert signed_in.status_code == 303, signed_in.text[:500]
    card = None
    for batch in payer.batches():
        began = time.perf_counter()
        offer = browser.get(f"{base_url}/payments/new", params={"invoice": batch})
        assert offer.status_code == 200, offer.text[:500]
        card = card or re.search(r'name="card"[^>]*value="(\d+)"', offer.text).group(1)
        form = {"csrf_token": CSRF_FIELD.search(offer.text).group(1),
                "attempt_key": ATTEMPT_FIELD.search(offer.text).group(1), "card": card}
        form.update({f"invoice-{index}": str(invoice_id) for index, invoice_id in enumerate(batch)})
        paid = browser.post(f"{base_url}/payments", data=form, allow_redirects=False)
        assert paid.status_code == 303, paid.text[:500]
        latencies.append(time.perf_counter() - began)


def run(label: str, payers: list[Payer], pay) -> Run:
    latencies: list[float] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(len(payers)) as pool:
        for outcome in [pool.submit(pay, payer, latencies) for payer in payers]:
            outcome.result()
    return Run(label, len(payers), len(latencies), time.perf_counter() - began, latencies)


@contextmanager
def served(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def check_agreement(engine, server: LocalStripe, payers: list[Payer]) -> str:
    """The database and localstripe agree: one succeeded charge of the right sum per payment."""
    with sessionmaker(bind=engine)() as session:
        company_ids = [payer.company_id for payer in payers]
        count, total = session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.company_id.in_(company_ids), Payment.status == PaymentStatus.SUCCEEDED)).one()
        not_succeeded = session.scalar(select(func.count()).select_from(Payment).where(
            Payment.company_id.in_(company_ids), Payment.status != PaymentStatus.SUCCEEDED))
    charges = [charge for payer in payers for charge in server.succeeded_charges(customer=payer.customer_id)]
    agree = (count, total) == (len(charges), sum(charge["amount"] for charge in charges)) and not not_succeeded
    return (f"{count} succeeded payments of {total / 100:,.2f} EUR in the database, {len(charges)} succeeded "
            f"charges of {sum(c['amount'] for c in charges) / 100:,.2f} EUR at localstripe, "
            f"{not_succeeded} other payments: {'they agree' if agree else 'THEY DISAGREE'}")


def main() -> None:
    print("Acquit bench: card payments through the full path, against localstripe")
    print(f"machine: nproc={os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {platform.machine()}, "
          f"{platform.platform()}")
    print(f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, stripe {stripe.VERSION}, "
          f"SQLite {sqlite3.sqlite_version}")
    print("load average (1, 5, 15 min) before the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    sequential_each = PAYMENTS
    concurrent_each = max(1, PAYMENTS // PAYERS)
    print(f"settings: BENCH_PAYMENTS={PAYMENTS} per run, BENCH_PAYERS={PAYERS} in the concurrent runs "
          f"({concurrent_each} payments each), BENCH_INVOICES_PER_PAYMENT={INVOICES_PER_PAYMENT}; "
          f"localstripe in a child process on 127.0.0.1; HTTP served by werkzeug's threaded server in this "
          f"process, CSRF on; no webhooks registered")
    with LocalStripe.start() as server, tempfile.TemporaryDirectory(prefix="acquit-bench-payments-") as directory:
        url = fresh_database(directory)
        print(f"database: {make_url(url).render_as_string(hide_password=True)}"
              f"{' (WAL)' if url.startswith('sqlite') else ''}")
        app = create_app({
            **DEMO_SUPPLIER,
            "ACQUIT_DATABASE_URL": url, "SECRET_KEY": "bench-secret", "ACQUIT_SMTP_HOST": None,
            "ACQUIT_BASE_URL": "http://127.0.0.1", "ACQUIT_PAYMENT_GATEWAY": "stripe",
            "STRIPE_SECRET_KEY": TEST_SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "ACQUIT_STRIPE_API_BASE": server.api_base,
        })
        # Per-request logs (werkzeug, stripe) and the unsent receipts (no SMTP) would drown the figures.
        for name in ("", "werkzeug", "stripe"):
            logging.getLogger(name).setLevel(logging.ERROR)
        api = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": server.api_base}, max_network_retries=0)
        engine = make_engine(url)
        began = time.perf_counter()
        groups = {
            "service, sequential": seed_payers(app, api, 1, sequential_each),
            "service, concurrent": seed_payers(app, api, PAYERS, concurrent_each),
            "HTTP, sequential": seed_payers(app, api, 1, sequential_each),
            "HTTP, concurrent": seed_payers(app, api, PAYERS, concurrent_each),
        }
        invoices = sum(len(payer.invoice_ids) for payers in groups.values() for payer in payers)
        print(f"seeded {sum(len(p) for p in groups.values())} companies with a saved card and {invoices} invoices "
              f"in {time.perf_counter() - began:.1f} s")

        results = [
            run("(a) service, one payer", groups["service, sequential"],
                lambda payer, latencies: pay_through_service(app, engine, payer, latencies)),
            run(f"(a) service, {PAYERS} payers at once", groups["service, concurrent"],
                lambda payer, latencies: pay_through_service(app, engine, payer, latencies)),
        ]
        with served(app) as base_url:
            results += [
                run("(b) HTTP GET form + POST, one payer", groups["HTTP, sequential"],
                    lambda payer, latencies: pay_through_http(base_url, payer, latencies)),
                run(f"(b) HTTP GET form + POST, {PAYERS} payers at once", groups["HTTP, concurrent"],
                    lambda payer, latencies: pay_through_http(base_url, payer, latencies)),
            ]
        print("load average (1, 5, 15 min) after the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
              + "  (other processes on the machine share its cores and skew the figures)")
        print(f"results ({INVOICES_PER_PAYMENT} invoices settled by each payment, one charge each):")
        for result in results:
            print(result.report())
        print("check: " + check_agreement(engine, server, [p for payers in groups.values() for p in payers]))
        engine.dispose()
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
