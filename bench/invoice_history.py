"""How fast the signed-in invoice list serves a company with 10,000 invoices.

Run by hand: `.venv/bin/python bench/invoice_history.py`. It prints figures and asserts
nothing about time. It builds a fresh, migrated SQLite file database, serves the real app
(create_app) with gunicorn's gthread workers in a child process, and measures, with
keep-alive HTTP clients in threads of this process:

  (a) GET /bench/hello, a bare route added to this app instance only, as the server's floor;
  (b) GET /invoices?status=overdue&per_page=50, signed in as a clerk, as the first view after a
      change: a bench-only request header gives every cache key that carries the company's data
      version a new one, as a change would (what is keyed on the query alone, the filter form, is
      still found, as it is after a real change);
  (c) the same page as it is served while nothing changed (the page cache keyed on the company's
      data version), without the clients' ETags: every request still sends the whole page.

It prints each one's throughput as a share of hello's, all measured in the same run on the
same server: figures from different runs on this shared machine do not compare.

Beside requests/second and p50/p95 latency it reports the workers' CPU time per request,
read from /proc, which other load on the machine disturbs less than the wall-clock figures.
It also counts the SQL statements the list page issues for per_page=10 and per_page=100.
Settings can be changed through the environment (BENCH_* below).
"""

import http.client
import logging
import multiprocessing
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import gunicorn
from _machine import speed_line
from flask import request as flask_request
from gunicorn.app.base import BaseApplication
from sqlalchemy import event, func, insert, select

from portal import clock, migrate
from portal.accounts.service import hash_password
from portal.app import create_app
from portal.billing.lines import line_amounts
from portal.billing.status import status_expression
from portal.blueprints.invoices import caching
from portal.db import make_engine, refresh_statistics
from portal.demo import DEMO_SUPPLIER
from portal.models import (
    AuditEvent,
    Company,
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    Role,
    User,
    UserKind,
)
from portal.page_cache import MemoryPageCache

INVOICES = int(os.environ.get("BENCH_INVOICES", 10_000))
OTHER_COMPANY_INVOICES = int(os.environ.get("BENCH_OTHER_INVOICES", 1_500))
WORKERS = int(os.environ.get("BENCH_WORKERS", os.cpu_count() or 1))
THREADS = int(os.environ.get("BENCH_THREADS", 2))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", 16))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", 2))
SECONDS = float(os.environ.get("BENCH_SECONDS", 15))

LIST_URL = "/invoices?" + urlencode({"status": "overdue", "per_page": 50})
HELLO_URL = "/bench/hello"
CLERK_EMAIL = "clerk@bench.test"
CLERK_PASSWORD = "bench-clerk-password"
YEARS_OF_HISTORY = 3

PRODUCTS = [
    ("Steel brackets, zinc plated (box of 100)", 4599, Decimal("20")),
    ("Consulting, half day", 45000, Decimal("20")),
    ("Flour T65, 25 kg bag", 2150, Decimal("5.5")),
    ("Spiral mixer, yearly maintenance", 48000, Decimal("20")),
    ("Express delivery", 2500, Decimal("20")),
    ("Training voucher", 19900, Decimal("0")),
    ("Kraft packaging, lot of 1,000", 3480, Decimal("10")),
]
QUANTITIES = [Decimal(1), Decimal(2), Decimal(3), Decimal(5), Decimal(10), Decimal("2.5"), Decimal("0.75")]


# --- Data ------------------------------------------------------------------------------


@dataclass
class Rows:
    """Rows for bulk insertion, with ids assigned here so children can point at parents."""

    invoices: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    allocations: list[dict] = field(default_factory=list)
    credit_notes: list[dict] = field(default_factory=list)
    audit_events: list[dict] = field(default_factory=list)
    next_id: Counter = field(default_factory=Counter)

    def new_id(self, table: str) -> int:
        self.next_id[table] += 1
        return self.next_id[table]


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _settlement(rng: random.Random, due_date: date, today: date, total: int):
    """(paid, credited, voided) for one invoice: mostly paid when old, open when recent."""
    if rng.random() < 0.03:
        return 0, 0, True
    days_past_due = (today - due_date).days
    if days_past_due > 90:
        weights = {"paid": 96, "partial": 1, "unpaid": 3}
    elif days_past_due > 0:
        weights = {"paid": 60, "partial": 10, "unpaid": 30}
    else:
        weights = {"paid": 20, "partial": 15, "unpaid": 65}
    outcome = rng.choices(list(weights), weights=list(weights.values()))[0]
    if outcome == "unpaid":
        return 0, 0, False
    credited = rng.randrange(1, total // 4 + 2) if total > 4 and rng.random() < 0.05 else 0
    credited = min(credited, total - 1)
    if outcome == "paid":
        return total - credited, credited, False
    return max(1, (total - credited) // rng.choice([2, 3, 4])), credited, False


def add_company_invoices(rows: Rows, rng: random.Random, company_id: int, prefix: str, count: int,
                         today: date, actor: str) -> None:
    """`count` issued invoices of 1 to 5 lines over the last few years, settled as real ones are."""
    first_day = today - timedelta(days=365 * YEARS_OF_HISTORY)
    span = (today - first_day).days
    for n in range(1, count + 1):
        invoice_id = rows.new_id("invoice")
        issue_date = first_day + timedelta(days=span * n // count)
        due_date = issue_date + timedelta(days=rng.choice([30, 30, 45, 60]))
        net = tax = 0
        for position in range(1, rng.randint(1, 5) + 1):
            description, unit_amount, tax_rate = rng.choice(PRODUCTS)
            quantity = rng.choice(QUANTITIES)
            amounts = line_amounts(quantity, unit_amount, tax_rate)
            net, tax = net + amounts.net, tax + amounts.tax
            rows.lines.append({
                "id": rows.new_id("invoice_line"), "invoice_id": invoice_id, "position": position,
                "description": description, "quantity": quantity, "unit_amount": unit_amount,
                "tax_rate": tax_rate, "amount_net": amounts.net, "amount_tax": amounts.tax,
            })
        total = net + tax
        paid, credited, voided = _settlement(rng, due_date, today, total)
        issued_at = _at(issue_date)
        number = f"{prefix}-{issue_date.year}-{n:06d}"
        rows.invoices.append({
            "id": invoice_id, "company_id": company_id, "number": number,
            "po_number": f"PO-{rng.randrange(10_000, 99_999)}" if rng.random() < 0.6 else None,
            "issue_date": issue_date, "due_date": due_date, "currency": "EUR",
            "amount_net": net, "amount_tax": tax, "amount_total": total,
            "amount_paid": paid, "amount_credited": credited, "custom_fields": {},
            "issued_at": issued_at, "voided_at": _at(issue_date + timedelta(days=2)) if voided else None,
            "void_reason": "Issued in error" if voided else None,
            "created_at": issued_at, "updated_at": issued_at,
        })
        audit = {"actor_user_id": None, "actor_label": actor, "company_id": company_id, "invoice_id": invoice_id,
                 "payment_id": None, "currency": "EUR"}
        rows.audit_events += [
            {**audit, "occurred_at": issued_at, "action": "invoice.created", "amount": total,
             "details": {"number": number}},
            {**audit, "occurred_at": issued_at, "action": "invoice.issued", "amount": total, "details": {}},
        ]
        if voided:
            rows.audit_events.append({**audit, "occurred_at": _at(issue_date + timedelta(days=2)),
                                      "action": "invoice.voided", "amount": total,
                                      "details": {"reason": "Issued in error"}})
        if credited:
            rows.credit_notes.append({
                "id": rows.new_id("credit_note"), "number": f"CN-{number}", "company_id": company_id,
                "invoice_id": invoice_id, "issue_date": min(due_date, today), "amount": credited,
                "currency": "EUR", "reason": "Damaged goods", "created_at": issued_at,
            })
            rows.audit_events.append({**audit, "occurred_at": issued_at, "action": "credit_note.applied",
                                      "amount": credited, "details": {"credit_note": f"CN-{number}"}})
        if paid:
            payment_id = rows.new_id("payment")
            paid_on = _at(min(issue_date + timedelta(days=rng.randint(5, 70)), today), hour=14)
            rows.payments.append({
                "id": payment_id, "company_id": company_id, "amount": paid, "currency": "EUR",
                "status": PaymentStatus.SUCCEEDED.value, "idempotency_key": f"bench-{payment_id}",
                "provider_reference": f"TRF-{payment_id:08d}", "method_summary": "Bank transfer",
                "failure_message": None, "created_by_user_id": None, "created_at": paid_on, "succeeded_at": paid_on,
            })
            rows.allocations.append({"id": rows.new_id("payment_allocation"), "payment_id": payment_id,
                                     "invoice_id": invoice_id, "amount": paid})
            rows.audit_events.append({**audit, "payment_id": payment_id, "occurred_at": paid_on,
                                      "action": "payment.allocated", "amount": paid,
                                      "details": {"method": "Bank transfer"}})


def build_database(url: str, today: date) -> dict:
    """Migrate a fresh database and fill it; returns what was written."""
    migrate.upgrade(url)
    rng = random.Random(20261123)
    engine = make_engine(url)
    rows = Rows()
    with engine.begin() as connection:
        big, other = 1, 2
        connection.execute(insert(Company), [
            {"id": big, "external_ref": "BENCH-BIG", "name": "Bigbuyer Industries SA",
             "billing_emails": ["ap@big.test"], "locale": "en", "currency": "EUR"},
            {"id": other, "external_ref": "BENCH-OTHER", "name": "Smallshop SARL",
             "billing_emails": ["ap@small.test"], "locale": "fr", "currency": "EUR"},
        ])
        connection.execute(insert(User), [{
            "email": CLERK_EMAIL, "full_name": "Bench Clerk", "password_hash": hash_password(CLERK_PASSWORD),
            "kind": UserKind.CLERK.value, "company_id": big, "role": Role.PAYER.value, "locale": "en",
            "is_active": True, "session_version": 1,
        }])
        add_company_invoices(rows, rng, big, "BIG", INVOICES, today, "system:bench")
        add_company_invoices(rows, rng, other, "OTH", OTHER_COMPANY_INVOICES, today, "system:bench")
        for model, batch in [
            (Invoice, rows.invoices), (InvoiceLine, rows.lines), (Payment, rows.payments),
            (PaymentAllocation, rows.allocations), (CreditNote, rows.credit_notes), (AuditEvent, rows.audit_events),
        ]:
            if batch:
                connection.execute(insert(model), batch)
        check_consistency(connection)
        # As after any big import: the planner needs the tables' new sizes.
        refresh_statistics(connection)
        status = status_expression(today)
        mix = dict(connection.execute(
            select(status, func.count()).where(Invoice.company_id == big).group_by(status)
        ).all())
    engine.dispose()
    return {"invoices": len(rows.invoices), "lines": len(rows.lines), "payments": len(rows.payments),
            "credit_notes": len(rows.credit_notes), "audit_events": len(rows.audit_events), "big_company_mix": mix}


def check_consistency(connection) -> None:
    """Every invoice's amounts are its lines' sums; paid and credited match the rows behind them."""
    line_totals = select(InvoiceLine.invoice_id, func.sum(InvoiceLine.amount_net).label("net"),
                         func.sum(InvoiceLine.amount_tax).label("tax")).group_by(InvoiceLine.invoice_id).subquery()
    paid = select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount).label("amount")).join(
        Payment, Payment.id == PaymentAllocation.payment_id
    ).where(Payment.status == PaymentStatus.SUCCEEDED).group_by(PaymentAllocation.invoice_id).subquery()
    credited = select(CreditNote.invoice_id, func.sum(CreditNote.amount).label("amount")).group_by(
        CreditNote.invoice_id).subquery()
    wrong = connection.scalar(
        select(func.count()).select_from(Invoice)
        .join(line_totals, line_totals.c.invoice_id == Invoice.id)
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .outerjoin(credited, credited.c.invoice_id == Invoice.id)
        .where(
            (Invoice.amount_net != line_totals.c.net)
            | (Invoice.amount_tax != line_totals.c.tax)
            | (Invoice.amount_total != Invoice.amount_net + Invoice.amount_tax)
            | (Invoice.amount_paid != func.coalesce(paid.c.amount, 0))
            | (Invoice.amount_credited != func.coalesce(credited.c.amount, 0))
        )
    )
    assert wrong == 0, f"{wrong} invoices disagree with their lines, payments or credit notes"


# --- The app under test -------------------------------------------------------------------


def build_app(url: str):
    app = create_app({
        **DEMO_SUPPLIER,
        "ACQUIT_DATABASE_URL": url,
        "SECRET_KEY": "bench-secret-key",
        "ACQUIT_SMTP_HOST": None,
        "ACQUIT_BASE_URL": "http://127.0.0.1",
    })
    # Its line a request would flood the bench's output (tens of thousands of lines); hello pays it as the list does.
    logging.getLogger("portal.request_log").setLevel(logging.WARNING)
    # Bench-only: the floor of the same server, app and middleware, with no view work.
    app.add_url_rule(HELLO_URL, "bench_hello", lambda: "hello")
    # Bench-only: a request with this header finds nothing the company's data version keys, as after a change.
    caching.company_rendering_key = _as_after_a_change(caching.company_rendering_key)

    # Bench-only: which worker process answered, to show how connections spread.
    @app.after_request
    def _worker_pid(response):
        response.headers["X-Bench-Worker"] = str(os.getpid())
        return response

    return app


UNCACHED_HEADER = "X-Bench-Uncached"


def _as_after_a_change(company_rendering_key):
    """`company_rendering_key`, except that for a request with UNCACHED_HEADER the data version is a new one."""
    def key(kind, company, *parts):
        if flask_request.headers.get(UNCACHED_HEADER):
            parts = (*parts, uuid.uuid4().hex)
        return company_rendering_key(kind, company, *parts)
    return key


def count_list_queries(app, per_page: int, **filters) -> int:
    """The SQL statements one signed-in GET of the list issues, counted on the app's engine, its page cache
    empty (as for the first view after a change: nothing an earlier count cached spares this one a query)."""
    engine = app.extensions["acquit.db"].engine
    served_cache, app.extensions["acquit.page_cache"] = app.extensions["acquit.page_cache"], MemoryPageCache(1024 * 1024)
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": _csrf_token(login_page), "email": CLERK_EMAIL,
                                           "password": CLERK_PASSWORD})
    assert response.status_code == 303, response.status_code
    statements = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get("/invoices?" + urlencode({**filters, "per_page": per_page}))
    finally:
        event.remove(engine, "before_cursor_execute", record)
        app.extensions["acquit.page_cache"] = served_cache
    assert response.status_code == 200, response.status_code
    assert response.get_data(as_text=True).count('<tr class="status-') == per_page
    return len(statements)


def _csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


class EmbeddedGunicorn(BaseApplication):
    """gunicorn serving an app object built here, with options given here (no CLI, no config file)."""

    def __init__(self, app, options: dict):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def worker_pids(arbiter_pid: int) -> list[int]:
    """The gunicorn workers: the arbiter's child processes."""
    children = Path(f"/proc/{arbiter_pid}/task/{arbiter_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time these processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(app):
    """Run gunicorn on `app` in a child process (its arbiter wants a main thread of its own)."""
    port = _free_port()
    options = {
        "bind": f"127.0.0.1:{port}", "workers": WORKERS, "worker_class": "gthread", "threads": THREADS,
        "keepalive": 5, "preload_app": True, "accesslog": None, "errorlog": "-", "loglevel": "warning",
    }
    # Each worker opens its own SQLite connections after the fork.
    app.extensions["acquit.db"].engine.dispose()
    server = multiprocessing.get_context("fork").Process(target=EmbeddedGunicorn(app, options).run, daemon=True)
    server.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", HELLO_URL)
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port, server.pid
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.join(15)


# --- The clients ---------------------------------------------------------------------------


def sign_in(port: int) -> str:
    """Sign the clerk in through the real form; returns the Cookie header to send."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/login")
    response = connection.getresponse()
    cookie = SimpleCookie(response.getheader("Set-Cookie"))
    token = _csrf_token(response.read().decode())
    body = urlencode({"csrf_token": token, "email": CLERK_EMAIL, "password": CLERK_PASSWORD})
    connection.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"session={cookie['session'].value}",
    })
    response = connection.getresponse()
    response.read()
    assert response.status == 303, response.status
    signed_in = SimpleCookie(response.getheader("Set-Cookie"))
    connection.close()
    return f"session={signed_in['session'].value}"


@dataclass
class Result:
    requests: int
    seconds: float
    latencies: list[float]
    workers: Counter
    server_cpu_seconds: float
    client_cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


def balanced_connections(port: int) -> list[http.client.HTTPConnection]:
    """CLIENTS keep-alive connections, spread evenly over the workers.

    A gunicorn worker keeps every connection it accepted, and which worker accepts is luck:
    with 4 connections and 2 workers, a 3-1 split leaves one core half idle and the figures
    then measure the split. Connections landing on a worker that has its share are dropped.
    """
    share = -(-CLIENTS // WORKERS)
    kept: list[http.client.HTTPConnection] = []
    per_worker: Counter = Counter()
    for _attempt in range(CLIENTS * 50):
        if len(kept) == CLIENTS:
            break
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", HELLO_URL)
        response = connection.getresponse()
        response.read()
        worker = response.getheader("X-Bench-Worker")
        if per_worker[worker] < share:
            per_worker[worker] += 1
            kept.append(connection)
        else:
            connection.close()
    while len(kept) < CLIENTS:
        kept.append(http.client.HTTPConnection("127.0.0.1", port, timeout=30))
    return kept


def hammer(port: int, workers_of_server: list[int], path: str, cookie: str | None, check,
           extra_headers: dict | None = None) -> Result:
    """CLIENTS keep-alive connections GET `path` back to back: WARMUP_SECONDS, then SECONDS counted."""
    headers = ({"Cookie": cookie} if cookie else {}) | (extra_headers or {})
    connections = balanced_connections(port)
    start = threading.Barrier(CLIENTS + 1)
    stop_warmup = threading.Event()
    stop = threading.Event()
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    workers: Counter = Counter()
    errors: list[BaseException] = []

    def client(connection: http.client.HTTPConnection, mine: list[float]):
        try:
            start.wait()
            first = True
            while not stop.is_set():
                began = time.perf_counter()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                took = time.perf_counter() - began
                if response.status != 200 or response.will_close:
                    raise RuntimeError(f"{path}: status {response.status}, will_close={response.will_close}")
                if first:
                    check(body.decode())
                    workers[response.getheader("X-Bench-Worker")] += 1
                    first = False
                if stop_warmup.is_set():
                    mine.append(took)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
            stop.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=pair) for pair in zip(connections, latencies)]
    for thread in threads:
        thread.start()
    start.wait()
    time.sleep(WARMUP_SECONDS)
    server_cpu, client_cpu = cpu_seconds(workers_of_server), time.process_time()
    stop_warmup.set()
    began = time.perf_counter()
    time.sleep(SECONDS)
    stop.set()
    seconds = time.perf_counter() - began
    server_cpu, client_cpu = cpu_seconds(workers_of_server) - server_cpu, time.process_time() - client_cpu
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    all_latencies = [took for mine in latencies for took in mine]
    return Result(requests=len(all_latencies), seconds=seconds, latencies=all_latencies, workers=workers,
                  server_cpu_seconds=server_cpu, client_cpu_seconds=client_cpu)


def _check_list(page: str) -> None:
    assert page.count('<tr class="status-overdue">') == 50, "the list did not show 50 overdue invoices"


def _check_hello(page: str) -> None:
    assert page == "hello"


def main() -> None:
    today = clock.today()
    print("Acquit bench: invoice history list")
    print(f"machine: nproc={os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {platform.machine()}, "
          f"{platform.platform()}")
    print(f"python {platform.python_version()} ({platform.python_implementation()}), SQLite {sqlite3.sqlite_version}, "
          f"gunicorn {gunicorn.__version__}")
    print("load average (1, 5, 15 min) before the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(speed_line())
    print(f"settings: {INVOICES} invoices for the clerk's company + {OTHER_COMPANY_INVOICES} for another; "
          f"server gunicorn gthread workers={WORKERS} threads={THREADS} (child process, keep-alive 5 s); "
          f"clients={CLIENTS} keep-alive http.client threads in the bench process; "
          f"warm-up {WARMUP_SECONDS:g} s then {SECONDS:g} s measured per URL")
    with tempfile.TemporaryDirectory(prefix="acquit-bench-") as directory:
        url = f"sqlite:///{directory}/bench.sqlite3"
        began = time.perf_counter()
        written = build_database(url, today)
        print(f"database: {url} (WAL), built in {time.perf_counter() - began:.1f} s: "
              f"{written['invoices']} invoices, {written['lines']} lines, {written['payments']} payments, "
              f"{written['credit_notes']} credit notes, {written['audit_events']} audit events")
        mix = ", ".join(f"{status} {count}" for status, count in sorted(written["big_company_mix"].items()))
        print(f"clerk's company on {today}: {mix}")

        app = build_app(url)
        counts = {}
        for label, filters in [("status=overdue", {"status": "overdue"}), ("no filter", {})]:
            counts[label] = (count_list_queries(app, 10, **filters), count_list_queries(app, 100, **filters))
        print("SQL statements per list page (before_cursor_execute on the app's engine):")
        for label, (ten, hundred) in counts.items():
            print(f"  {label:15} per_page=10: {ten}, per_page=100: {hundred} -> "
                  f"{'equal' if ten == hundred else 'NOT equal'}")

        with served(app) as (port, arbiter_pid):
            cookie = sign_in(port)
            workers = worker_pids(arbiter_pid)
            results = {
                f"(a) GET {HELLO_URL} (bench-only route)": hammer(port, workers, HELLO_URL, None, _check_hello),
                f"(b) GET {LIST_URL} (signed in), uncached": hammer(port, workers, LIST_URL, cookie, _check_list,
                                                                    {UNCACHED_HEADER: "1"}),
                f"(c) GET {LIST_URL} (signed in), cached": hammer(port, workers, LIST_URL, cookie, _check_list),
            }
        print("load average (1, 5, 15 min) after the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
              + "  (other processes on the machine share its cores and skew the figures)")
        print(speed_line())
        for label, result in results.items():
            spread = ", ".join(str(n) for n in sorted(result.workers.values(), reverse=True))
            server_ms = result.server_cpu_seconds / result.requests * 1000
            print(f"{label}\n    {result.per_second:8.1f} req/s   p50 {result.percentile(50):7.1f} ms   "
                  f"p95 {result.percentile(95):7.1f} ms   ({result.requests} requests in {result.seconds:.1f} s; "
                  f"connections per worker: {spread})\n"
                  f"    server CPU {server_ms:.2f} ms/request (about {1000 / server_ms:.0f} req/s per core if CPU were "
                  f"the only limit); clients' CPU {result.client_cpu_seconds:.1f} s over the "
                  f"{result.seconds:.0f} s")
        hello = next(iter(results.values()))
        print("share of hello's throughput, same run (target: uncached >= 12 %, cached >= 30 %; p95 <= 30 ms):")
        for label, result in list(results.items())[1:]:
            print(f"  {label[:3]} {result.per_second / hello.per_second:6.1%} of hello's requests/second, "
                  f"p95 {result.percentile(95):.1f} ms; server CPU per request "
                  f"{result.server_cpu_seconds / result.requests / (hello.server_cpu_seconds / hello.requests):.1f}x hello's")


if __name__ == "__main__":
    main()
