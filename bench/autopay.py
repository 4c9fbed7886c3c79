"""How fast an autopay run charges what falls due: against the in-memory gateway, then against localstripe.

Run by hand: `.venv/bin/python bench/autopay.py [--invoices 10000] [--localstripe-invoices 2000]
[--companies 300]`, a few minutes with the defaults. It prints figures and asserts nothing
about time. For each gateway it builds a fresh migrated SQLite file database (or a fresh
PostgreSQL database on the server --database-url names), seeds --companies companies, each
with a clerk, a card saved through a SetupIntent and an autopay enrolment accepted word for
word, and the invoices spread over them, all due by the run's day; then times one
`run_autopay` over all of it (what `acquit autopay run` calls; the advance notices it sends
are part of the time) and prints charges per second:

  (a) FakeGateway: the run's own cost (database, claims, audit, e-mails into the outbox);
  (b) localstripe (tests/localstripe_server.py, a child process on 127.0.0.1): the same with
      a real HTTP round trip per charge through the stripe library.

After (b) it checks that the database and localstripe agree: one succeeded charge per
invoice (found by the PaymentIntent's metadata `payment_key`, autopay-<invoice>-<n>) of the
amount due, one succeeded payment per invoice, nothing left owing. (b) runs on
--localstripe-invoices invoices, by default no more than 2000: at localstripe's pace 10000
take a quarter of an hour or more, and listing them back to check as long again
(`--localstripe-invoices 10000` for the full count).
"""

import argparse
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy
import stripe
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the localstripe rig and builders

from portal import migrate  # noqa: E402
from portal.app import create_app  # noqa: E402
from portal.audit import Actor  # noqa: E402
from portal.autopay.enrolment import EnrolmentTerms, MandateContext, enrol, mandate_text  # noqa: E402
from portal.autopay.run import run_autopay  # noqa: E402
from portal.db import make_engine  # noqa: E402
from portal.demo import DEMO_SUPPLIER  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Invoice, Payment, PaymentAllocation, PaymentStatus  # noqa: E402
from portal.payments.cards import finish_saving_card, start_saving_card  # noqa: E402
from portal.services import services_of
from tests.builders import Builders  # noqa: E402
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, LocalStripe  # noqa: E402

RUN_DAY = date(2026, 12, 15)
SUPPLIER = "Bench Supplier"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000, help="due invoices (default 10000)")
    parser.add_argument("--companies", type=int, default=300, help="enrolled companies they belong to (default 300)")
    parser.add_argument("--localstripe-invoices", type=int,
                        help="due invoices for the localstripe run (default: --invoices, at most 2000)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL: the bench creates its databases there "
                                               "(dropping them first); default: SQLite files in a temporary folder")
    parser.add_argument("--skip-fake", action="store_true")
    parser.add_argument("--skip-localstripe", action="store_true")
    return parser.parse_args()


@dataclass
class Seeded:
    invoice_totals: dict[int, int]  # invoice id -> amount due
    customers: list[str]
    seconds: float


def fresh_database(server_url: str | None, name: str, directory: str) -> str:
    if server_url:
        admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{directory}/{name}.sqlite3"
    migrate.upgrade(url)
    return url


def bench_app(url: str, **config):
    return create_app({**DEMO_SUPPLIER, "ACQUIT_DATABASE_URL": url, "SECRET_KEY": "bench-secret", "ACQUIT_SMTP_HOST": None,
                       "ACQUIT_BASE_URL": "http://127.0.0.1", "ACQUIT_SUPPLIER_NAME": SUPPLIER, **config})


def confirm_setup_at_localstripe(api: stripe.StripeClient):
    """What Stripe.js does with the card typed in, for a SetupIntent at localstripe."""
    def confirm(gateway, setup_id: str) -> None:
        method = api.v1.payment_methods.create({"type": "card", "card": {
            "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}})
        api.v1.setup_intents.confirm(setup_id, {"payment_method": method.id})
    return confirm


def confirm_setup_in_memory(gateway, setup_id: str) -> None:
    gateway.complete_setup(setup_id)


def seed(app, confirm_setup, invoices: int, companies: int) -> Seeded:
    """Enrolled companies with a saved card, and `invoices` invoices spread over them, due in the 3 days to RUN_DAY."""
    began = time.perf_counter()
    payments = services_of(app).payments
    mandate = MandateContext(supplier_name=SUPPLIER, locale="en", settings=services_of(app).autopay_settings,
                             today=RUN_DAY - timedelta(days=3))
    engine = make_engine(app.config["ACQUIT_DATABASE_URL"])
    totals: dict[int, int] = {}
    customers: list[str] = []
    with sessionmaker(bind=engine, expire_on_commit=False)() as session:
        make = Builders(session)
        for c in range(companies):
            company = make.company(locale="en")
            payer = make.user(company, locale="en")
            session.commit()
            setup = start_saving_card(session, payments, company=company, email=payer.email)
            confirm_setup(payments.gateway, setup.setup_id)
            card = finish_saving_card(session, payments, Actor.user(payer), company=company, setup_id=setup.setup_id)
            terms = EnrolmentTerms(card_id=card.id)
            enrol(session, payer, company=company, terms=terms, ip_address="192.0.2.1", context=mandate,
                  accepted_text=mandate_text(session, company, terms, mandate))
            session.commit()
            customers.append(company.provider_customer_id)
            for n in range(invoices // companies + (c < invoices % companies)):
                invoice = make.invoice(company, total=2_000 + 13 * len(totals), issue_date=RUN_DAY - timedelta(30),
                                       due_date=RUN_DAY - timedelta(days=n % 3))
                totals[invoice.id] = invoice.amount_due
            session.commit()
    engine.dispose()
    return Seeded(totals, customers, time.perf_counter() - began)


def timed_run(app) -> tuple:
    context = services_of(app).autopay
    engine = make_engine(app.config["ACQUIT_DATABASE_URL"])
    with sessionmaker(bind=engine, expire_on_commit=False)() as session:
        began = time.perf_counter()
        report = run_autopay(session, context, as_of=RUN_DAY)
        seconds = time.perf_counter() - began
    engine.dispose()
    return report, seconds


def report_line(label: str, report, seconds: float) -> str:
    return (f"  {label:34} {report.charged / seconds:8.1f} charges/s  ({report.charged} charged in {seconds:.1f} s; "
            f"{report.notices} advance notices, {report.declined} declined, {report.errors} errors)")


def check_agreement(app, server: LocalStripe, seeded: Seeded) -> str:
    """The database and localstripe agree: one succeeded charge and one succeeded payment per invoice, of its amount.

    localstripe pages its lists by scanning every object it holds, so only the PaymentIntents
    are listed (each carries its charge inline, and every charge autopay makes has one).
    """
    began = time.perf_counter()
    intents = server.payment_intents()
    succeeded = [intent for intent in intents if intent["status"] == "succeeded"
                 and (intent.get("latest_charge") or {}).get("status") == "succeeded"]
    invoice_of = {intent["id"]: int(intent["metadata"]["payment_key"].split("-")[1]) for intent in succeeded}
    charged = Counter(invoice_of.values())
    amounts_right = all(intent["amount"] == intent["latest_charge"]["amount"]
                        == seeded.invoice_totals[invoice_of[intent["id"]]] for intent in succeeded)
    engine = make_engine(app.config["ACQUIT_DATABASE_URL"])
    with sessionmaker(bind=engine)() as session:
        count, total = session.execute(select(func.count(), func.coalesce(func.sum(Payment.amount), 0))
                                       .where(Payment.status == PaymentStatus.SUCCEEDED)).one()
        paid = Counter(dict(session.execute(
            select(PaymentAllocation.invoice_id, func.count()).join(Payment)
            .where(Payment.status == PaymentStatus.SUCCEEDED).group_by(PaymentAllocation.invoice_id)).all()))
        other = session.scalar(select(func.count()).select_from(Payment)
                               .where(Payment.status != PaymentStatus.SUCCEEDED))
        owing = session.scalar(select(func.count()).select_from(Invoice).where(
            Invoice.amount_total - Invoice.amount_paid - Invoice.amount_credited > 0))
    engine.dispose()
    once = Counter(dict.fromkeys(seeded.invoice_totals, 1))
    charged_total = sum(intent["amount"] for intent in succeeded)
    agree = (charged == once and paid == once and amounts_right and not other and not owing
             and (count, total) == (len(succeeded), charged_total))
    return (f"{count} succeeded payments of {total / 100:,.2f} EUR in the database, {other} other payments, "
            f"{owing} invoices still owing; {len(succeeded)} succeeded charges of {charged_total / 100:,.2f} EUR "
            f"among {len(intents)} PaymentIntents at localstripe, "
            f"{sum(1 for n in charged.values() if n > 1)} invoices charged more than once: "
            f"{'they agree, every invoice charged exactly once' if agree else 'THEY DISAGREE'} "
            f"(checked in {time.perf_counter() - began:.0f} s)")


def main() -> None:
    arguments = parse_arguments()
    localstripe_invoices = arguments.localstripe_invoices or min(arguments.invoices, 2_000)
    print("Acquit bench: one autopay run over every due invoice")
    print(f"machine: nproc={os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {platform.machine()}, "
          f"{platform.platform()}")
    print(f"python {platform.python_version()}, SQLAlchemy {sqlalchemy.__version__}, stripe {stripe.VERSION}, "
          f"SQLite {sqlite3.sqlite_version}")
    print("load average (1, 5, 15 min) before the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"settings: --invoices {arguments.invoices} (localstripe run: {localstripe_invoices}) over --companies "
          f"{arguments.companies}, each company enrolled on a saved card, invoices due on {RUN_DAY} or up to two "
          f"days before; one run as of {RUN_DAY}, in this process, one session; no SMTP (e-mails stay in the outbox)")
    # Migrations' progress, the unsent e-mails' log lines and the stripe library's per-request
    # logs would drown the figures.
    logging.disable(logging.WARNING)
    results = []
    with tempfile.TemporaryDirectory(prefix="acquit-bench-autopay-") as directory:
        if not arguments.skip_fake:
            url = fresh_database(arguments.database_url, "acquit_bench_autopay_fake", directory)
            print(f"(a) database: {make_url(url).render_as_string(hide_password=True)}")
            app = bench_app(url, ACQUIT_PAYMENT_GATEWAY="fake")
            seeded = seed(app, confirm_setup_in_memory, arguments.invoices, arguments.companies)
            print(f"(a) seeded {len(seeded.customers)} enrolled companies and {len(seeded.invoice_totals)} due "
                  f"invoices in {seeded.seconds:.1f} s")
            report, seconds = timed_run(app)
            results.append(report_line("(a) FakeGateway, in memory", report, seconds))
            print(results[-1])
            charges = services_of(app).payments.gateway.charges.values()
            print(f"(a) check: {len(charges)} charges made in memory for {len(seeded.invoice_totals)} invoices")
            with app.app_context():
                db.engine.dispose()
        if not arguments.skip_localstripe:
            with LocalStripe.start() as server:
                url = fresh_database(arguments.database_url, "acquit_bench_autopay_localstripe", directory)
                print(f"(b) database: {make_url(url).render_as_string(hide_password=True)}")
                app = bench_app(url, ACQUIT_PAYMENT_GATEWAY="stripe", STRIPE_SECRET_KEY=TEST_SECRET_KEY,
                                STRIPE_PUBLISHABLE_KEY=TEST_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET="whsec_bench",
                                ACQUIT_STRIPE_API_BASE=server.api_base)
                api = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": server.api_base},
                                          max_network_retries=0)
                seeded = seed(app, confirm_setup_at_localstripe(api), localstripe_invoices, arguments.companies)
                print(f"(b) seeded {len(seeded.customers)} enrolled companies (cards saved through SetupIntents at "
                      f"localstripe) and {len(seeded.invoice_totals)} due invoices in {seeded.seconds:.1f} s")
                report, seconds = timed_run(app)
                results.append(report_line("(b) localstripe, one HTTP call each", report, seconds))
                print(results[-1])
                print("(b) check: " + check_agreement(app, server, seeded))
                with app.app_context():
                    db.engine.dispose()
    print("load average (1, 5, 15 min) after the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
          + "  (other processes on the machine share its cores and skew the figures)")
    print("results (one autopay run each, in a single process):")
    for line in results:
        print(line)


if __name__ == "__main__":
    main()
