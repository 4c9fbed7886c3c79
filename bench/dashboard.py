"""How fast the collections dashboard and a company's page answer over 1,000 companies and 1,000,000 invoices.

Run by hand: `.venv/bin/python bench/dashboard.py`. It prints figures and asserts nothing
about time. It needs PostgreSQL: a server at BENCH_DATABASE_URL (a database named
acquit_bench_dashboard is made afresh on it), or else it starts a throwaway PostgreSQL 15
server of its own in a temporary directory, as scripts/test-postgres does.

The data is written by the database itself, set-based (INSERT … SELECT over generate_series),
in about a minute rather than the hours a million ORM inserts would take: BENCH_COMPANIES
companies sharing BENCH_INVOICES invoices of one line issued over three years, each settled
as real ones are (old ones mostly paid, recent ones mostly open, a few void, part-paid or
credited), a payment and its allocation for each paid one, a clerk per company, and open
disputes on some.
The bench then checks the figures the dashboard shows against a plain SQL recount, and times,
signed in as staff through the real app (create_app, the Flask test client in this process,
no network), BENCH_ROUNDS requests each of:

  (a) GET /collections/                         the dashboard (every figure, the chart, 10 companies)
  (b) GET /collections/companies                the companies list, largest balance first
  (c) GET /collections/companies/<ref>          one company's page (its 1,000 invoices' first page…)
  (d) GET /collections/companies/<ref>?status=overdue&sort=amount   …filtered and sorted
  (e) GET /collections/invoices?q=<part of a number>   the search across every company

and prints p50/p95/max wall-clock milliseconds and the SQL statements each issues.
"""

import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from portal import clock, migrate
from portal.accounts.service import hash_password
from portal.app import create_app
from portal.collections.dashboard import dashboard
from portal.db import make_engine

COMPANIES = int(os.environ.get("BENCH_COMPANIES", 1_000))
INVOICES = int(os.environ.get("BENCH_INVOICES", 1_000_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 20))
SERVER_URL = os.environ.get("BENCH_DATABASE_URL")
DATABASE = "acquit_bench_dashboard"
STAFF_EMAIL = "staff@bench.test"
STAFF_PASSWORD = "bench-staff-password"
DAYS_OF_HISTORY = 3 * 365


# --- A PostgreSQL server ---------------------------------------------------------------------


@contextmanager
def postgres_server():
    """The server URL of BENCH_DATABASE_URL, or of a throwaway server started (and removed) here."""
    if SERVER_URL:
        yield SERVER_URL
        return
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not binaries:
        raise SystemExit("bench/dashboard.py needs PostgreSQL: set BENCH_DATABASE_URL or install postgresql")
    bin_dir = binaries[-1].parent
    # initdb refuses to run as root: the server then belongs to the postgres OS user.
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    work = Path(tempfile.mkdtemp(prefix="acquit-bench-pg-"))
    data = work / "data"
    password = os.urandom(16).hex()
    (work / "password").write_text(password + "\n")
    if as_owner:
        shutil.chown(work, "postgres")
        shutil.chown(work / "password", "postgres")
    subprocess.run([*as_owner, bin_dir / "initdb", "-D", data, "--username=acquit", f"--pwfile={work / 'password'}",
                    "--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8", "--locale=C.UTF-8",
                    "--no-sync"], check=True, capture_output=True)
    port = _free_port()
    # Durability off (a throwaway), memory as a small production server would have it.
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={work} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB -c work_mem=16MB "
               "-c maintenance_work_mem=256MB -c max_wal_size=4GB")
    subprocess.run([*as_owner, bin_dir / "pg_ctl", "start", "-D", data, "-w", "-t", "60", "-l", work / "log",
                    "-o", options], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://acquit:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_owner, bin_dir / "pg_ctl", "stop", "-D", data, "-m", "immediate"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_database(server_url: str) -> str:
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{DATABASE}"')
    admin.dispose()
    return make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)


# --- Data, written by the database --------------------------------------------------------------

# Each invoice n (1..INVOICES) belongs to company 1 + n % COMPANIES and is issued on day
# n * DAYS / INVOICES of the last three years; `r` is a deterministic pseudo-random number in
# 0..999 per invoice (a multiplicative hash), from which its amount and fate are drawn.
FILL = """
INSERT INTO company (id, external_ref, name, locale, currency, created_at, updated_at)
SELECT c, 'BENCH-' || lpad(c::text, 4, '0'), 'Customer ' || lpad(c::text, 4, '0') || ' SAS',
       CASE WHEN c % 3 = 0 THEN 'en' ELSE 'fr' END, 'EUR', now(), now()
FROM generate_series(1, :companies) AS c;

INSERT INTO user_account (id, email, full_name, kind, company_id, role, is_active, session_version, created_at)
SELECT c, 'clerk' || c || '@customer' || c || '.test', 'Clerk ' || c, 'clerk', c, 'payer', true, 1, now()
FROM generate_series(1, :companies) AS c;

CREATE TEMPORARY TABLE draw AS
SELECT n,
       1 + n % :companies AS company_id,
       (:today)::date - :days + (n::bigint * :days / :invoices)::int AS issue_date,
       (n::bigint * 2654435761 % 1000)::int AS r,
       (n::bigint * 40503 % 1000)::int AS r2
FROM generate_series(1, :invoices) AS n;

CREATE TEMPORARY TABLE fate AS
SELECT n, company_id, issue_date, issue_date + (ARRAY[30, 30, 45, 60])[1 + r2 % 4] AS due_date,
       (1000 + r * 997 % 500000)::bigint AS net, r, r2
FROM draw;

INSERT INTO invoice (id, company_id, number, po_number, issue_date, due_date, currency, amount_net, amount_tax,
                     amount_total, amount_paid, amount_credited, custom_fields, custom_fields_text, pay_link_version,
                     issued_at, voided_at, void_reason, created_at, updated_at)
SELECT n, company_id, 'INV-' || to_char(issue_date, 'YYYY') || '-' || lpad(n::text, 7, '0'),
       CASE WHEN r2 < 600 THEN 'PO-' || (10000 + r2 * 89 % 90000) END,
       issue_date, due_date, 'EUR', net, net / 5, net + net / 5,
       CASE WHEN r < 30 THEN 0                                            -- void
            WHEN due_date < (:today)::date - 90 AND r < 990 THEN net + net / 5
            WHEN due_date < (:today)::date AND r < 700 THEN net + net / 5
            WHEN due_date < (:today)::date AND r < 800 THEN (net + net / 5) / 2
            WHEN due_date >= (:today)::date AND r < 200 THEN net + net / 5
            ELSE 0 END,
       0, '{}', '', 1, issue_date + time '09:00',
       CASE WHEN r < 30 THEN issue_date + time '10:00' END, CASE WHEN r < 30 THEN 'Issued in error' END,
       issue_date + time '09:00', issue_date + time '09:00'
FROM fate;

UPDATE invoice SET amount_credited = amount_total / 10
WHERE voided_at IS NULL AND amount_paid = 0 AND id % 50 = 0;

INSERT INTO invoice_line (id, invoice_id, position, description, quantity, unit_amount, tax_rate, amount_net,
                          amount_tax)
SELECT id, id, 1, 'Services', 1, amount_net, 20, amount_net, amount_tax FROM invoice;

INSERT INTO payment (id, company_id, amount, currency, status, idempotency_key, provider_reference, method_summary,
                     channel, created_at, succeeded_at)
SELECT id, company_id, amount_paid, 'EUR', 'succeeded', 'bench-' || id, 'TRF-' || lpad(id::text, 8, '0'),
       'Bank transfer', 'offline', paid_at, paid_at
FROM (SELECT id, company_id, amount_paid,
             LEAST(issue_date + (5 + id % 60) + time '14:00', (:today)::date + time '08:00') AS paid_at
      FROM invoice WHERE amount_paid > 0) AS paid;

INSERT INTO payment_allocation (id, payment_id, invoice_id, amount)
SELECT id, id, id, amount FROM payment;

INSERT INTO dispute (invoice_id, company_id, raised_by_user_id, reason, status, disputed_amount, currency,
                     created_at, updated_at)
SELECT id, company_id, company_id, 'wrong_price', 'open', amount_total - amount_paid - amount_credited, 'EUR',
       issue_date + time '12:00', issue_date + time '12:00'
FROM invoice
WHERE voided_at IS NULL AND amount_paid + amount_credited < amount_total AND id % 97 = 0;

SELECT setval(pg_get_serial_sequence('company', 'id'), (SELECT max(id) FROM company));
SELECT setval(pg_get_serial_sequence('user_account', 'id'), (SELECT max(id) FROM user_account));
SELECT setval(pg_get_serial_sequence('invoice', 'id'), (SELECT max(id) FROM invoice));
SELECT setval(pg_get_serial_sequence('invoice_line', 'id'), (SELECT max(id) FROM invoice_line));
SELECT setval(pg_get_serial_sequence('payment', 'id'), (SELECT max(id) FROM payment));
SELECT setval(pg_get_serial_sequence('payment_allocation', 'id'), (SELECT max(id) FROM payment_allocation));
"""


def build_database(url: str, today: date) -> dict:
    """Migrate a fresh database, fill it set-based, analyse it; returns the row counts."""
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        for statement in filter(str.strip, FILL.split(";\n")):
            connection.execute(text(statement), {"companies": COMPANIES, "invoices": INVOICES,
                                                 "days": DAYS_OF_HISTORY, "today": today})
        connection.execute(text(
            "INSERT INTO user_account (email, full_name, password_hash, kind, is_active, session_version, created_at)"
            " VALUES (:email, 'Bench Staff', :hash, 'staff', true, 1, now())"),
            {"email": STAFF_EMAIL, "hash": hash_password(STAFF_PASSWORD)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
        counts = {table: connection.scalar(text(f"SELECT count(*) FROM {table}"))
                  for table in ("company", "invoice", "invoice_line", "payment", "payment_allocation", "dispute")}
        counts["open"] = connection.scalar(text(
            "SELECT count(*) FROM invoice WHERE voided_at IS NULL AND amount_paid + amount_credited < amount_total"))
        counts["size"] = connection.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    engine.dispose()
    return counts


def check_figures(url: str, today: date) -> str:
    """The dashboard's receivable and 90+ bucket against a plain recount; raises if they differ."""
    engine = make_engine(url)
    with engine.connect() as connection:
        receivable, over_90 = connection.execute(text(
            "SELECT sum(amount_total - amount_paid - amount_credited),"
            "       sum(amount_total - amount_paid - amount_credited) FILTER (WHERE due_date < :limit)"
            " FROM invoice WHERE issued_at IS NOT NULL AND voided_at IS NULL"
            "   AND amount_paid + amount_credited < amount_total"), {"limit": today - timedelta(days=90)}).one()
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        [euros] = dashboard(session, today=today).currencies
    engine.dispose()
    assert (euros.receivable, euros.aging.over_90) == (receivable, over_90), (euros, receivable, over_90)
    return (f"receivable {euros.receivable / 100:,.2f} EUR (90+ days {euros.aging.over_90 / 100:,.2f}), "
            f"DSO30 {euros.dso[30]} d, DSO90 {euros.dso[90]} d: equal to a plain SQL recount")


# --- Timing --------------------------------------------------------------------------------------


def signed_in_client(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"csrf_token": token, "email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    assert response.status_code == 303, response.status_code
    return client


def time_url(app, client, url: str) -> dict:
    engine = app.extensions["acquit.db"].engine
    statements = []

    def record(_conn, _cursor, statement, _parameters, _context, _executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 200, (url, response.status_code)
    took = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        response = client.get(url)
        took.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    took.sort()
    return {"p50": statistics.median(took), "p95": took[max(0, int(len(took) * 0.95) - 1)], "max": took[-1],
            "statements": len(statements), "bytes": len(response.get_data())}


def main() -> None:
    today = clock.today()
    print("Acquit bench: collections dashboard and company page on PostgreSQL")
    print(f"machine: nproc={os.cpu_count()}, {platform.machine()}, {platform.platform()}; "
          f"python {platform.python_version()}")
    print("load average (1, 5, 15 min) before the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    with postgres_server() as server_url:
        url = fresh_database(server_url)
        engine = make_engine(url)
        with engine.connect() as connection:
            print(f"server: {connection.scalar(text('SELECT version()')).split(',')[0]}")
        engine.dispose()
        began = time.perf_counter()
        counts = build_database(url, today)
        print(f"data written set-based in {time.perf_counter() - began:.1f} s (with VACUUM ANALYZE): "
              f"{counts['company']:,} companies, {counts['invoice']:,} invoices ({counts['open']:,} open), "
              f"{counts['invoice_line']:,} lines, {counts['payment']:,} payments and allocations, "
              f"{counts['dispute']:,} open disputes; database {counts['size']}")
        print("figures: " + check_figures(url, today))
        app = create_app({"ACQUIT_DATABASE_URL": url, "SECRET_KEY": "bench-secret-key", "ACQUIT_SMTP_HOST": None,
                          "ACQUIT_BASE_URL": "http://127.0.0.1"})
        client = signed_in_client(app)
        company = f"BENCH-{COMPANIES // 2:04d}"
        urls = {
            "(a) dashboard": "/collections/",
            "(b) companies list": "/collections/companies",
            "(c) company page": f"/collections/companies/{company}",
            "(d) company page, overdue by amount": f"/collections/companies/{company}?status=overdue&sort=amount",
            "(e) invoice search": "/collections/invoices?q=0500123",
        }
        print(f"timings: {ROUNDS} sequential requests each after one warm-up, Flask test client in this process "
              "(wall clock, server and rendering included, no network):")
        for label, path in urls.items():
            result = time_url(app, client, path)
            print(f"  {label:38} p50 {result['p50']:7.1f} ms   p95 {result['p95']:7.1f} ms   "
                  f"max {result['max']:7.1f} ms   {result['statements']} SQL statements   {path}")
        app.extensions["acquit.db"].engine.dispose()
    print("load average (1, 5, 15 min) after the run: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
          + "  (other processes on the machine share its cores and skew the figures)")


if __name__ == "__main__":
    main()
