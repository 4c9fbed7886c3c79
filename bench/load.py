"""Acquit under load: gunicorn + PostgreSQL on this machine, driven by locust; then the money is counted.

    .venv/bin/pip install -e '.[test,load]'
    .venv/bin/python bench/load.py --users 20 --spawn-rate 2 --duration 5m

It starts a throwaway PostgreSQL server, localstripe (a local fake Stripe), an SMTP sink,
runs `acquit db upgrade`, seeds customer companies (clerks, a year of invoices, most of the
old ones paid by transfer) and an API key, starts gunicorn (--workers × --threads) and
`acquit worker`, has one clerk of each company save a card through the portal's own card
page, and runs `locust -f bench/load/locustfile.py --headless` with four kinds of user:
clerks browsing (list, filters, detail, PDF) and paying one to three invoices with the saved
card; guests paying from a PAY NOW link (the page, Stripe.js's confirmCardSetup at
localstripe, the POST); Stripe's signed webhooks (localstripe's own events, delivered and
redelivered); and the supplier's ERP putting invoices through the API.

Then it checks the money: every invoice's succeeded allocations are at most what it owed;
every succeeded PaymentIntent at localstripe is exactly one succeeded payment of the same
amount and every succeeded card payment is one such PaymentIntent. It prints requests/s,
p50/p95/p99 per kind of request, errors and double charges, and exits 1 unless errors,
double charges and disagreements are all 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import requests
from _stack import REPOSITORY, VENV_BIN, WEBHOOK_SECRET, Stack, StackError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.accounts.api_keys import create_api_key
from portal.db import make_engine
from portal.guest.links import PayLinks
from portal.models import IN_FLIGHT_PAYMENT_STATUSES, Invoice, Payment, PaymentAllocation, PaymentAttention, PaymentStatus
from portal.models.payment import CARD_CHANNELS
from tests.builders import Builders
from tests.localstripe_server import TEST_PUBLISHABLE_KEY

LOCUSTFILE = REPOSITORY / "bench" / "load" / "locustfile.py"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SETUP_FIELD = re.compile(r'name="setup_id"[^>]*value="([^"]+)"')
CLIENT_SECRET = re.compile(r'data-client-secret="([^"]+)"')
# What gunicorn's and the worker's logs say when something went wrong (plain or JSON lines, a 5xx request line).
SERVER_ERROR = re.compile(r'Traceback|\bERROR\b|\bCRITICAL\b|"status": 5\d\d\b')
PRODUCTS = [("Steel brackets (box of 100)", 4599), ("Flour T65, 25 kg", 2150), ("Consulting, half day", 45000),
            ("Pallet deposit", 1500), ("Express delivery", 2500), ("Oven part", 12990)]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20, help="locust users at once (default 20)")
    parser.add_argument("--spawn-rate", type=float, default=2, help="users started per second (default 2)")
    parser.add_argument("--duration", default="5m", help="how long locust runs, e.g. 90s, 5m (default 5m)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--companies", type=int, default=10, help="customer companies (default 10)")
    parser.add_argument("--clerks-per-company", type=int, default=2, help="(default 2, who may pick the same invoice)")
    parser.add_argument("--invoices-per-company", type=int, default=200, help="a year of invoices each (default 200)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (logs, locust CSVs) afterwards")
    return parser.parse_args()


# --- Seeding -------------------------------------------------------------------------------------


def seed(stack: Stack, args: argparse.Namespace) -> dict:
    """Companies, clerks and invoices written through the domain's own services; PAY NOW links; an API key."""
    engine = make_engine(stack.database_url)
    generator = random.Random(2026)
    today = date.today()
    links = PayLinks(stack.secret_key, stack.base_url, valid_for=timedelta(days=30))
    clerks, guest_links, companies = [], [], []
    with Session(engine, expire_on_commit=False) as session:
        make = Builders(session)
        for index in range(args.companies):
            company = make.company(ref=f"LOAD-{index:03d}", name=f"Load Customer {index} SAS", locale="en")
            companies.append(company.external_ref)
            for _ in range(args.clerks_per_company):
                clerk = make.user(company, locale="en")
                clerks.append({"email": clerk.email, "password": Builders.PASSWORD, "company": company.external_ref})
            for sequence in range(args.invoices_per_company):
                issued = today - timedelta(days=365 * (args.invoices_per_company - sequence) // args.invoices_per_company)
                description, unit_amount = generator.choice(PRODUCTS)
                invoice = make.invoice(company, total=unit_amount * generator.randint(1, 12),
                                       number=f"LOAD-{index:03d}-{sequence:05d}", issue_date=issued,
                                       due_date=issued + timedelta(days=generator.choice((30, 45, 60))),
                                       po_number=f"PO-{generator.randint(1000, 9999)}")
                # A ledger as real ones are: what fell due over a month ago is nearly all paid by transfer.
                if (today - invoice.due_date).days > 30 and generator.random() < 0.9:
                    make.payment(invoice, invoice.amount_total)
                else:
                    guest_links.append(links.link_for(invoice).url.removeprefix(stack.base_url))
            session.commit()
        _, api_key = create_api_key(session, "load")
        session.commit()
    engine.dispose()
    generator.shuffle(guest_links)
    return {"clerks": clerks, "companies": companies, "guest_links": guest_links, "api_key": api_key,
            "webhook_secret": WEBHOOK_SECRET, "stripe_api_base": stack.stripe.api_base,
            "publishable_key": TEST_PUBLISHABLE_KEY, "card": CARD}


def save_card(base_url: str, clerk: dict, stripe_api_base: str) -> None:
    """Save the test card as a clerk does: the card page, Stripe.js's confirmCardSetup, the form posted back."""
    browser = requests.Session()
    login = browser.get(f"{base_url}/login")
    signed_in = browser.post(f"{base_url}/login", allow_redirects=False, data={
        "email": clerk["email"], "password": clerk["password"], "csrf_token": CSRF_FIELD.search(login.text)[1]})
    if signed_in.status_code != 303:
        raise StackError(f"{clerk['email']} could not sign in: {signed_in.status_code}")
    page = browser.get(f"{base_url}/payments/cards/new")
    client_secret = CLIENT_SECRET.search(page.text)[1]
    setup_id = SETUP_FIELD.search(page.text)[1]
    confirmed = requests.post(f"{stripe_api_base}/v1/setup_intents/{setup_id}/confirm", data=json.dumps({
        "key": TEST_PUBLISHABLE_KEY, "use_stripe_sdk": True, "client_secret": client_secret,
        "payment_method_data": {"type": "card", "card": CARD, "billing_details": {"name": clerk["email"]}}}))
    if confirmed.json().get("status") != "succeeded":
        raise StackError(f"localstripe did not confirm the card setup: {confirmed.text[:300]}")
    saved = browser.post(f"{base_url}/payments/cards", allow_redirects=False,
                         data={"csrf_token": CSRF_FIELD.search(page.text)[1], "setup_id": setup_id})
    if saved.status_code != 303 or "/payments/cards/new" in saved.headers.get("Location", ""):
        raise StackError(f"the card was not saved for {clerk['email']}: {saved.status_code}")


# --- Watching the machine --------------------------------------------------------------------


class LoadAverage(threading.Thread):
    """Samples the 1-minute load average every few seconds while the run lasts."""

    def __init__(self, every: float = 5):
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = []
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self._finished.set()
        self.join()
        if not self.samples:
            return "no sample"
        return (f"min {min(self.samples):.1f}, mean {sum(self.samples) / len(self.samples):.1f}, "
                f"max {max(self.samples):.1f} (1-minute load average, {len(self.samples)} samples)")


# --- Counting the money ----------------------------------------------------------------------


def settle_in_flight(stack: Stack, database_url: str, wait: float = 60) -> int:
    """Wait for card payments still in flight to settle (asking the provider once); how many are left."""
    engine = make_engine(database_url)
    deadline = time.monotonic() + wait
    asked = False
    try:
        while True:
            with Session(engine) as session:
                left = session.scalar(select(func.count()).select_from(Payment)
                                      .where(Payment.status.in_(IN_FLIGHT_PAYMENT_STATUSES)))
            if not left or time.monotonic() > deadline:
                return left
            if not asked:
                stack.run_acquit("payments", "reconcile")
                asked = True
            time.sleep(2)
    finally:
        engine.dispose()


def count_money(stack: Stack) -> dict:
    """What the database and localstripe say was paid, and every way in which they disagree."""
    engine = make_engine(stack.database_url)
    with Session(engine) as session:
        invoices = session.execute(select(Invoice.id, Invoice.number, Invoice.amount_total, Invoice.amount_credited,
                                          Invoice.amount_paid)).all()
        allocated = dict(session.execute(
            select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount))
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(Payment.status == PaymentStatus.SUCCEEDED).group_by(PaymentAllocation.invoice_id)).all())
        card_payments = session.execute(
            select(Payment.id, Payment.status, Payment.amount, Payment.provider_reference, Payment.attention,
                   Payment.channel).where(Payment.channel.in_(CARD_CHANNELS))).all()
    engine.dispose()
    intents = stack.stripe.payment_intents()
    succeeded_intents = {intent["id"]: intent for intent in intents if intent["status"] == "succeeded"}
    payments_by_reference = {payment.provider_reference: payment for payment in card_payments
                             if payment.provider_reference}

    overpaid = [row.number for row in invoices if allocated.get(row.id, 0) > row.amount_total - row.amount_credited]
    ledger_off = [row.number for row in invoices if allocated.get(row.id, 0) != row.amount_paid]
    charges_without_payment = [pi for pi, intent in succeeded_intents.items()
                               if pi not in payments_by_reference
                               or payments_by_reference[pi].status != PaymentStatus.SUCCEEDED]
    amounts_differ = [pi for pi, intent in succeeded_intents.items()
                      if pi in payments_by_reference and payments_by_reference[pi].amount != intent["amount"]]
    payments_without_charge = [payment.id for payment in card_payments if payment.status == PaymentStatus.SUCCEEDED
                               and payment.provider_reference not in succeeded_intents]
    charged_beyond_owed = [payment.id for payment in card_payments
                           if payment.attention in (PaymentAttention.OVERPAID, PaymentAttention.UNEXPECTED_CHARGE)]
    statuses = Counter(payment.status for payment in card_payments)
    return {
        "invoices": len(invoices),
        "card payments": dict(statuses),
        "succeeded intents": len(succeeded_intents),
        "intents": len(intents),
        "collected": sum(intent["amount"] for intent in succeeded_intents.values()),
        "double charges": len(overpaid) + len(charges_without_payment) + len(charged_beyond_owed),
        "overpaid invoices": overpaid,
        "charges without a succeeded payment": charges_without_payment,
        "payments charged beyond what was owed": charged_beyond_owed,
        "disagreements": len(ledger_off) + len(amounts_differ) + len(payments_without_charge),
        "invoices whose amount_paid is not their allocations": ledger_off,
        "charges of another amount than their payment": amounts_differ,
        "succeeded payments without a charge": payments_without_charge,
    }


# --- The report -------------------------------------------------------------------------------


def print_table(report: dict) -> None:
    print(f"  {'request':50} {'count':>6} {'errors':>6} {'req/s':>6} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
    for row in [*report["requests"], {**report["total"], "name": "all requests"}]:
        print(f"  {row['name']:50} {row['count']:>6} {row['errors']:>6} {row['rps']:6.2f} "
              f"{row['p50']:>6.0f} {row['p95']:>6.0f} {row['p99']:>6.0f}")


def main() -> int:
    args = parse_arguments()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"Acquit load: {started}; {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, python {platform.python_version()}; "
          f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="acquit-load-") as temporary:
        directory = Path(temporary)
        if args.keep:
            directory = Path(tempfile.mkdtemp(prefix="acquit-load-kept-"))
        with Stack.start(directory) as stack:
            print(f"stack: PostgreSQL {stack.postgres.bin.parent.name} on port {stack.postgres.port}, "
                  f"localstripe {stack.stripe.api_base}, SMTP sink on port {stack.smtp.port}; logs in {directory}")
            stack.run_acquit("db", "upgrade")
            began = time.perf_counter()
            scenario = seed(stack, args)
            stack.start_web(workers=args.workers, threads=args.threads)
            stack.start_worker()
            card_holders = {clerk["company"]: clerk for clerk in reversed(scenario["clerks"])}
            for clerk in card_holders.values():
                save_card(stack.base_url, clerk, stack.stripe.api_base)
            print(f"seeded in {time.perf_counter() - began:.0f} s: {args.companies} companies, "
                  f"{len(scenario['clerks'])} clerks, {args.companies * args.invoices_per_company} invoices "
                  f"({len(scenario['guest_links'])} unpaid, each with a PAY NOW link), one saved card per company; "
                  f"gunicorn {args.workers} workers x {args.threads} threads (gthread)")
            scenario_file = directory / "scenario.json"
            scenario_file.write_text(json.dumps(scenario))
            report_file = directory / "report.json"
            command = [str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(args.users),
                       "-r", str(args.spawn_rate), "-t", args.duration, "--host", stack.base_url,
                       "--only-summary", "--stop-timeout", "30"]
            print("running: " + " ".join(command[1:]).replace(str(REPOSITORY) + "/", ""))
            load_average = LoadAverage()
            load_average.start()
            with open(directory / "locust.log", "wb") as log:
                locust = subprocess.run(command, cwd=REPOSITORY, stdout=log, stderr=subprocess.STDOUT, env={
                    **os.environ, "LOAD_SCENARIO": str(scenario_file), "LOAD_REPORT": str(report_file)})
            machine = load_average.stop()
            left_in_flight = settle_in_flight(stack, stack.database_url)
            stack.worker.stop()
            stack.web.stop()
            money = count_money(stack)
            mails = stack.smtp.messages
            server_errors = [line for child in (stack.web, stack.worker)
                             for line in child.log.read_text(errors="replace").splitlines()
                             if SERVER_ERROR.search(line)]

        if not report_file.exists():
            print(f"locust exited {locust.returncode} without a report:\n{(directory / 'locust.log').read_text()[-3000:]}")
            return 1
        report = json.loads(report_file.read_text())
        errors = report["total"]["errors"]
        print()
        print(f"locust exited {locust.returncode}; {args.users} users for {args.duration}; during the run: {machine}")
        print_table(report)
        print(f"sustained: {report['total']['count'] / report['seconds']:.1f} requests/s over {report['seconds']:.0f} s")
        for kind, count in sorted(report["outcomes"].items()):
            print(f"  {kind}: {count}")
        for error in report["errors"]:
            print(f"  error: {error['occurrences']} x {error['method']} {error['name']}: {error['error'][:300]}")
        if server_errors:
            print(f"server logs: {len(server_errors)} error line(s); the first: {server_errors[0][:300]}")
        print(f"mail: {mails} message(s) reached the SMTP sink")
        paid = money["card payments"]
        print(f"money: {money['invoices']} invoices; card payments by status {paid}; {money['succeeded intents']} "
              f"succeeded PaymentIntents of {money['intents']} at localstripe, {money['collected'] / 100:,.2f} EUR")
        for name in ("overpaid invoices", "charges without a succeeded payment", "payments charged beyond what was owed",
                     "invoices whose amount_paid is not their allocations", "charges of another amount than their payment",
                     "succeeded payments without a charge"):
            if money[name]:
                print(f"  {name}: {len(money[name])}: {money[name][:10]}")
        print(f"payments still in flight after the run: {left_in_flight}")
        print(f"errors: {errors}   double charges: {money['double charges']}   "
              f"disagreements: {money['disagreements']}   server log errors: {len(server_errors)}")
        if args.keep:
            print(f"kept: {directory}")
        failed = (errors or money["double charges"] or money["disagreements"] or left_in_flight or server_errors
                  or locust.returncode > 1)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
