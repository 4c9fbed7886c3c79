"""How fast an ERP can load invoices: one by one and in batches through the JSON API, and by CSV import.

Run by hand: `.venv/bin/python bench/api_ingest.py [--invoices 100000] [--postgres]`. It prints
figures and asserts nothing about time. On a fresh, migrated SQLite file database (or, with
--postgres, a throwaway PostgreSQL server started for the run, as scripts/test-postgres does;
or --database-url, an empty database of your own) it:

  (a) serves the real app with gunicorn's gthread workers in a child process, creates an API
      key, and has --clients threads of this process, each on its own keep-alive connection,
      send `PUT /api/v1/invoices/{number}` for --put-invoices new invoices of two lines each,
      as fast as the server answers; then sends the first --replay of them again, which must
      change nothing ("unchanged");
  (b) the same server: --batch-clients threads sending `POST /api/v1/invoices:batch` of
      --batch-size invoices each, a new connection for each batch (so that gunicorn's workers
      share them), for --invoices new invoices, then the first --replay again;
  (c) writes --invoices other invoices to a CSV file and runs `acquit import invoices` on it in
      a child process, as an operator would.

For each it prints invoices per second, CPU per invoice (the portal's, and with --postgres the
database server's, which shares the machine) and peak memory: the server workers' and the import
process's peak resident set (VmHWM, ru_maxrss), which is what the machine has to have. The
load average is printed before and after: on a shared machine, figures are only comparable
within one run (batch against one by one, as a ratio).
"""

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from datetime import date, timedelta
from pathlib import Path

from _machine import speed_line
from gunicorn.app.base import BaseApplication
from sqlalchemy import func, select

from portal import migrate
from portal.accounts.api_keys import create_api_key
from portal.app import create_app
from portal.audit import Actor
from portal.billing.sync import CompanyData, upsert_company
from portal.demo import DEMO_SUPPLIER
from portal.extensions import db
from portal.models import Invoice, InvoiceLine

SECRET_KEY = "bench-secret-key"
ISSUED = date(2026, 11, 2)
PRODUCTS = [("Steel brackets (box of 100)", 4599, "20.00"), ("Flour T65, 25 kg", 2150, "5.5"),
            ("Consulting, half day", 45000, "20.00"), ("Pallet deposit", 1500, "0")]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="new invoices in batches and by CSV (default 100000)")
    parser.add_argument("--put-invoices", type=int, default=5_000, help="new invoices one by one (default 5000)")
    parser.add_argument("--batch-size", type=int, default=1000, help="invoices per batch request (default 1000)")
    parser.add_argument("--batch-clients", type=int, default=2,
                        help="concurrent batch connections (default 2: SQLite writes one batch at a time)")
    parser.add_argument("--replay", type=int, default=2_000, help="API invoices sent a second time (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent API connections (default 8)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gunicorn workers (default: CPUs)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    parser.add_argument("--companies", type=int, default=50, help="customer companies (default 50)")
    parser.add_argument("--database-url", help="an empty database to use instead of a fresh SQLite file")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL server for the run")
    parser.add_argument("--skip-put", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-csv", action="store_true")
    return parser.parse_args()


def invoice_body(n: int, companies: int) -> dict:
    """Invoice n: two lines, terms and PO that vary with n."""
    first, second = PRODUCTS[n % len(PRODUCTS)], PRODUCTS[(n + 1) % len(PRODUCTS)]
    issued = ISSUED - timedelta(days=n % 90)
    return {
        "company_ref": f"BENCH-{n % companies:03d}",
        "po_number": f"PO-{n % 5000:05d}",
        "issue_date": issued.isoformat(),
        "due_date": (issued + timedelta(days=30)).isoformat(),
        "currency": "EUR",
        "lines": [
            {"description": first[0], "quantity": 1 + n % 12, "unit_amount": first[1], "tax_rate": first[2]},
            {"description": second[0], "quantity": "2.5", "unit_amount": second[1], "tax_rate": second[2]},
        ],
        "custom_fields": {"cost_centre": f"CC-{n % 40}"},
    }


# --- The server ---------------------------------------------------------------------------------


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(app, workers: int, threads: int):
    """Run gunicorn on `app` in a child process; yields the port and the arbiter's pid."""
    port = _free_port()
    options = {
        "bind": f"127.0.0.1:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
        "keepalive": 30, "preload_app": True, "accesslog": None, "errorlog": "-", "loglevel": "warning",
        "timeout": 120,
    }
    app.extensions["acquit.db"].engine.dispose()  # each worker opens its own connections after the fork
    server = multiprocessing.get_context("fork").Process(target=EmbeddedGunicorn(app, options).run, daemon=True)
    server.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/api/v1/openapi.json")
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
        server.join(30)


def worker_pids(arbiter_pid: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{arbiter_pid}/task/{arbiter_pid}/children").read_text().split()]


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the process's name (utime is [11], stime [12], cutime [13], cstime [14])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time these processes have used so far."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def database_server_cpu_seconds(postmaster: int) -> float:
    """User plus system CPU time the PostgreSQL server has used so far: its postmaster's, the children it
    has reaped (the backends of closed connections) and those still running (backends, checkpointer, WAL writer)."""
    fields = _stat(postmaster)
    total = sum(int(fields[index]) for index in (11, 12, 13, 14))
    for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
        try:
            fields = _stat(int(child))
        except FileNotFoundError:  # ended since listed: counted in the postmaster's cutime once it is reaped
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def report_database_cpu(postmaster: int | None, cpu_before: float | None, invoices: int) -> None:
    """Print the database server's CPU per invoice since `cpu_before`, when the bench started the server."""
    if postmaster is not None and cpu_before is not None:
        cpu = database_server_cpu_seconds(postmaster) - cpu_before
        print(f"    database server CPU: {cpu / invoices * 1000:.2f} ms per new invoice")


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- The batched client ----------------------------------------------------------------------


class Load:
    """Numbers to send, shared by the client threads, and what came back."""

    def __init__(self, numbers: range, prefix: str, companies: int):
        self._next = iter(numbers)
        self._lock = threading.Lock()
        self.prefix = prefix
        self.companies = companies
        self.statuses: Counter = Counter()
        self.outcomes: Counter = Counter()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def take(self) -> int | None:
        with self._lock:
            return next(self._next, None)

    def take_many(self, count: int) -> list[int]:
        with self._lock:
            return list(itertools.islice(self._next, count))


def client_thread(port: int, key: str, load: Load) -> None:
    """Send invoices one by one (`PUT`) until `load` is exhausted."""
    def next_request():
        n = load.take()
        if n is None:
            return None
        return "PUT", f"/api/v1/invoices/{load.prefix}-{n:07d}", json.dumps(invoice_body(n, load.companies))

    def outcomes_of(status: int, answer: bytes) -> list[str]:
        return [json.loads(answer)["outcome"]] if status < 300 else []

    _send_until_done(port, key, load, timeout=120, next_request=next_request, outcomes_of=outcomes_of)


def batch_client_thread(port: int, key: str, load: Load, batch_size: int) -> None:
    """Send invoices `batch_size` a request (`POST /api/v1/invoices:batch`) until `load` is exhausted."""
    def next_request():
        numbers = load.take_many(batch_size)
        if not numbers:
            return None
        return "POST", "/api/v1/invoices:batch", json.dumps({"invoices": [
            {"number": f"{load.prefix}-{n:07d}", **invoice_body(n, load.companies)} for n in numbers]})

    def outcomes_of(status: int, answer: bytes) -> list[str]:
        return [result.get("outcome", "refused") for result in json.loads(answer)["results"]] if status == 200 else []

    # A new connection for each batch: a keep-alive connection stays with the gunicorn worker that
    # accepted it, and two of them on one worker leave the other worker's core idle.
    _send_until_done(port, key, load, timeout=300, next_request=next_request, outcomes_of=outcomes_of,
                     keep_alive=False)


def _send_until_done(port: int, key: str, load: Load, *, timeout: float, next_request, outcomes_of,
                     keep_alive: bool = True) -> None:
    """One connection sending `next_request()` (method, path, body) until it is None (or, without
    `keep_alive`, a connection each); statuses, outcomes, latencies and the first errors go into `load`."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    statuses, outcomes, latencies = Counter(), Counter(), []
    while (request := next_request()) is not None:
        method, path, body = request
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            load.errors.append(f"{type(error).__name__}: {error}")
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            continue
        latencies.append(time.perf_counter() - started)
        statuses[response.status] += 1
        outcomes.update(outcomes_of(response.status, answer))
        if response.status >= 300 and len(load.errors) < 5:
            load.errors.append(f"{response.status}: {answer[:200]!r}")
        if not keep_alive:
            connection.close()
    connection.close()
    with load._lock:
        load.statuses.update(statuses)
        load.outcomes.update(outcomes)
        load.latencies.extend(latencies)


def send_load(port: int, key: str, load: Load, clients: int, batch_size: int | None = None) -> float:
    """Send every invoice of `load` over `clients` connections, alone or `batch_size` a request; returns the seconds."""
    threads = [threading.Thread(target=client_thread, args=(port, key, load)) if batch_size is None else
               threading.Thread(target=batch_client_thread, args=(port, key, load, batch_size))
               for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def report_load(label: str, count: int, seconds: float, load: Load) -> float:
    """Print what `load` did; returns its rate in invoices per second (those answered, of `count` sent)."""
    latencies = sorted(load.latencies) or [float("nan")]
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    answered = sum(load.outcomes.values())
    print(f"  {label}: {answered:,} of {count:,} invoices in {seconds:,.1f} s = {answered / seconds:,.0f} invoices/s")
    print(f"    statuses {dict(load.statuses)}, outcomes {dict(load.outcomes)}, transport errors {len(load.errors)}")
    print(f"    request latency p50 {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    for error in load.errors[:5]:
        print(f"    e.g. {error}")
    return answered / seconds


def bench_api(app, args, run: str, postmaster: int | None) -> None:
    with app.app_context():
        _, key = create_api_key(db.session, f"bench-{run}")
        db.session.commit()
    print(f"API: gunicorn {args.workers} workers x {args.threads} threads; PUTs on keep-alive connections, "
          "batches each on a new one")
    rates = {}
    with served(app, args.workers, args.threads) as (port, arbiter):
        workers = worker_pids(arbiter)
        paths = [("(a) one by one: PUT /api/v1/invoices/{number}", "PUT", args.put_invoices, None, args.clients,
                  args.skip_put),
                 (f"(b) in batches of {args.batch_size}, {args.batch_clients} connections: POST /api/v1/invoices:batch",
                  "BATCH", args.invoices, args.batch_size, args.batch_clients, args.skip_batch)]
        for label, prefix, count, batch_size, clients, skip in paths:
            if skip or not count:
                continue
            print(label)
            cpu_before = [cpu_seconds([worker]) for worker in workers]
            database_cpu_before = database_server_cpu_seconds(postmaster) if postmaster else None
            created = Load(range(count), f"{prefix}-{run}", args.companies)
            rates[prefix] = report_load("new invoices", count, send_load(port, key, created, clients, batch_size),
                                        created)
            by_worker = [cpu_seconds([worker]) - before for worker, before in zip(workers, cpu_before)]
            cpu, written = sum(by_worker), created.outcomes["created"] or 1
            # A keep-alive connection stays with the worker that took it: PUTs' connections may crowd one worker.
            print(f"    server CPU: {cpu / written * 1000:.2f} ms per new invoice "
                  f"({written / cpu:,.0f} invoices per CPU-second; "
                  f"by worker {', '.join(f'{worker / cpu:.0%}' for worker in by_worker)})")
            report_database_cpu(postmaster, database_cpu_before, written)
            replayed_count = min(args.replay, count)
            if replayed_count:
                replayed = Load(range(replayed_count), f"{prefix}-{run}", args.companies)
                report_load("the same again (replay)", replayed_count,
                            send_load(port, key, replayed, clients, batch_size), replayed)
        peaks = [peak_rss_mib(pid) for pid in workers]
        print(f"    peak memory: server workers {', '.join(f'{peak:,.0f}' for peak in peaks)} MiB (VmHWM), "
              f"this client process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if len(rates) == 2:
        print(f"  batch / one by one, same run: {rates['BATCH'] / rates['PUT']:.1f} x")


def write_csv(path: Path, count: int, companies: int, run: str) -> None:
    header = ("invoice_number,company_ref,po_number,issue_date,due_date,currency,description,quantity,"
              "unit_amount,tax_rate,custom.cost_centre\n")
    with path.open("w", encoding="utf-8") as out:
        out.write(header)
        for n in range(count):
            body = invoice_body(n, companies)
            common = (f"CSV-{run}-{n:07d},{body['company_ref']},{body['po_number']},{body['issue_date']},"
                      f"{body['due_date']},EUR")
            for line in body["lines"]:
                out.write(f"{common},{line['description'].replace(',', ' ')},{line['quantity']},"
                          f"{line['unit_amount']},{line['tax_rate']},{body['custom_fields']['cost_centre']}\n")


def bench_csv(url: str, args, run: str, workdir: Path, postmaster: int | None) -> None:
    path = workdir / "invoices.csv"
    started = time.perf_counter()
    write_csv(path, args.invoices, args.companies, run)
    print(f"(c) CSV: `acquit import invoices` of {args.invoices:,} invoices ({2 * args.invoices:,} rows, "
          f"{path.stat().st_size / 2**20:,.1f} MiB, written in {time.perf_counter() - started:.1f} s)")
    environment = {**os.environ, **{name: str(value) for name, value in DEMO_SUPPLIER.items()},
                   "ACQUIT_DATABASE_URL": url, "ACQUIT_SECRET_KEY": SECRET_KEY}
    started = time.perf_counter()
    database_cpu_before = database_server_cpu_seconds(postmaster) if postmaster else None
    command = subprocess.Popen([sys.executable, "-c", "from portal.cli import main; main()", "import", "invoices",
                                str(path)], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Read the output while it runs (a full pipe would block the child), then reap it with its rusage.
    output = command.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(command.pid, 0)
    command.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    print(f"  exit {command.returncode}: {output.strip().splitlines()[0] if output.strip() else '(no output)'}")
    if command.returncode != 0:
        sys.exit(f"the import failed:\n{output[-2000:]}")
    print(f"  {args.invoices:,} invoices in {seconds:,.1f} s = {args.invoices / seconds:,.0f} invoices/s "
          f"(process start and file parsing included)")
    print(f"    peak memory: import process {usage.ru_maxrss / 1024:,.0f} MiB (ru_maxrss), "
          f"CPU {usage.ru_utime + usage.ru_stime:,.1f} s "
          f"({args.invoices / (usage.ru_utime + usage.ru_stime):,.0f} invoices per CPU-second)")
    report_database_cpu(postmaster, database_cpu_before, args.invoices)


@contextmanager
def throwaway_postgres():
    """A PostgreSQL server of its own in a temporary directory, on a free port (as scripts/test-postgres
    starts one, but durable: commits reach the disk as they would in production); yields its URL and
    the postmaster's process id."""
    binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not binaries:
        sys.exit("--postgres needs the PostgreSQL server (Debian's postgresql package)")
    pg_bin = binaries[-1].parent
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory(prefix="acquit-bench-pg-") as work:
        password = os.urandom(16).hex()
        Path(work, "password").write_text(password + "\n")
        if as_owner:
            subprocess.run(["chown", "-R", "postgres:", work], check=True)
        data, port = Path(work, "data"), _free_port()
        subprocess.run([*as_owner, str(pg_bin / "initdb"), "-D", str(data), "--username=acquit",
                        f"--pwfile={work}/password", "--auth-host=scram-sha-256", "--auth-local=peer",
                        "--encoding=UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*as_owner, str(pg_bin / "pg_ctl"), "start", "-D", str(data), "-w", "-l", f"{work}/log", "-o",
                        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={work} "
                        "-c max_connections=100"], check=True, stdout=subprocess.DEVNULL)
        try:
            postmaster = int((data / "postmaster.pid").read_text().split()[0])
            yield f"postgresql+psycopg://acquit:{password}@127.0.0.1:{port}/postgres", postmaster
        finally:
            subprocess.run([*as_owner, str(pg_bin / "pg_ctl"), "stop", "-D", str(data), "-m", "fast"],
                           stdout=subprocess.DEVNULL)


def main() -> None:
    args = parse_arguments()
    with (throwaway_postgres() if args.postgres else nullcontext((args.database_url, None))) as (database_url, postmaster):
        run_bench(args, database_url, postmaster)


def run_bench(args, database_url: str | None, postmaster: int | None) -> None:
    run = time.strftime("%H%M%S")
    with tempfile.TemporaryDirectory(prefix="acquit-bench-") as workdir:
        url = database_url or f"sqlite:///{workdir}/ingest.sqlite3"
        migrate.upgrade(url)
        app = create_app({**DEMO_SUPPLIER, "ACQUIT_DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "ACQUIT_SMTP_HOST": None,
                          "ACQUIT_BASE_URL": "http://127.0.0.1"})
        with app.app_context():
            for c in range(args.companies):
                # Every other company has a billing address: its new invoices' e-mails are queued.
                upsert_company(db.session, Actor.system("bench"), f"BENCH-{c:03d}",
                               CompanyData(name=f"Bench {c} SA", billing_emails=[f"ap{c}@bench.test"] if c % 2 else []))
            db.session.commit()
        print(f"Acquit ingest bench {time.strftime('%Y-%m-%d %H:%M')} UTC: database {url.split(':', 1)[0]}, "
              f"{args.companies} companies, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
              f"load average {os.getloadavg()[0]:.1f} (1 min)")
        print(speed_line())
        if not (args.skip_put and args.skip_batch):
            bench_api(app, args, run, postmaster)
        if not args.skip_csv:
            bench_csv(url, args, run, Path(workdir), postmaster)
        with app.app_context():
            for prefix in ("PUT", "BATCH", "CSV"):
                invoices = db.session.scalar(
                    select(func.count()).select_from(Invoice).where(Invoice.number.like(f"{prefix}-{run}-%")))
                lines = db.session.scalar(
                    select(func.count()).select_from(InvoiceLine).join(Invoice)
                    .where(Invoice.number.like(f"{prefix}-{run}-%")))
                print(f"  in the database: {invoices:,} {prefix} invoices, {lines:,} lines")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (1 min); {speed_line()}")
        app.extensions["acquit.db"].engine.dispose()


if __name__ == "__main__":
    main()
