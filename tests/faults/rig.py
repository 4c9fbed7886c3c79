"""The parts a fault scenario runs as real processes, and the ledger it checks afterwards.

- `PortalProcess`: the portal under gunicorn (as deployed), started, SIGKILLed and started
  again on the same port, configured only through the environment as in production.
- `acquit(...)`: a CLI command (`acquit payments reconcile`, `acquit worker`) in a process of its own.
- `Browser`: a person at the portal over HTTP: signs in, opens the pay page, submits its form.
- `PostgresServer`: a PostgreSQL server of the scenario's own, stopped and started under the
  portal (the suite's shared server must not go down under the other tests).
- `count_charges`, `audit_actions`: what localstripe and the database hold once it is over.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.demo import DEMO_SUPPLIER
from portal.models import AuditEvent, Invoice, Payment, PaymentAllocation
from tests.builders import Builders
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, LocalStripe

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
SECRET_KEY = "faults-secret-key-not-for-production"
WEBHOOK_SECRET = "whsec_acquit_faults"
#: gunicorn's own start plus create_app, on a busy two-core machine.
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.1):
    """Poll `condition` until it returns something true (which is returned); AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(every)


def portal_environment(database_url: str, *, port: int, stripe: LocalStripe, stripe_api_base: str,
                       stripe_timeout: int, smtp_port: int | None = None, smtp_timeout: int = 5,
                       **extra: str) -> dict[str, str]:
    """The environment a deployed portal (web, worker, CLI) runs with, and nothing of this process's ACQUIT_*."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("ACQUIT_", "STRIPE_"))}
    settings = {
        "ACQUIT_DATABASE_URL": database_url,
        "ACQUIT_SECRET_KEY": SECRET_KEY,
        "ACQUIT_BASE_URL": f"http://{HOST}:{port}",
        "ACQUIT_DEFAULT_LOCALE": "en",
        **DEMO_SUPPLIER,
        "ACQUIT_PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ACQUIT_STRIPE_API_BASE": stripe_api_base,
        "ACQUIT_STRIPE_JS_URL": stripe.stripe_js_url,
        "ACQUIT_STRIPE_TIMEOUT": str(stripe_timeout),
    }
    if smtp_port is not None:
        settings.update(ACQUIT_SMTP_HOST=HOST, ACQUIT_SMTP_PORT=str(smtp_port), ACQUIT_SMTP_TIMEOUT=str(smtp_timeout))
    return {**inherited, **settings, **extra}


def direct_config(stripe: LocalStripe) -> dict:
    """Config for the test's own payment context, talking to localstripe without the faulty link
    (the test plays Stripe.js and the card holder's bank, which the fault does not touch)."""
    return {"ACQUIT_PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ACQUIT_STRIPE_API_BASE": stripe.api_base, "ACQUIT_STRIPE_TIMEOUT": 20,
            "ACQUIT_SUPPLIER_NAME": DEMO_SUPPLIER["ACQUIT_SUPPLIER_NAME"], "ACQUIT_BASE_URL": "http://portal.test"}


class PortalProcess:
    """The portal served by gunicorn as deployed (deploy/gunicorn.conf.py: gthread workers, each building
    the app after the fork), two workers, in a process group of its own.

    Its output goes to `log_path`; `unhandled_errors()` reads the tracebacks the portal
    logged there, which must stay empty: a fault may refuse a request, never crash one.
    """

    def __init__(self, environment: dict[str, str], port: int, log_path: Path):
        self.environment = environment
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> float:
        """Start gunicorn and return once /readyz says ready; returns how long that took, in seconds."""
        started = time.monotonic()
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"], cwd=REPO_ROOT,
                env={**self.environment, "ACQUIT_BIND": f"{HOST}:{self.port}", "ACQUIT_WEB_WORKERS": "2"},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(self._ready, timeout=START_TIMEOUT, what=f"the portal answering /readyz\n{self.log_tail()}")
        return time.monotonic() - started

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            return requests.get(f"{self.url}/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL gunicorn's master and workers at once, as a crash or an OOM kill would: nothing runs after."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM), then make sure nothing of it is left."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def unhandled_errors(self) -> list[str]:
        """The lines where the portal or gunicorn logged an unhandled error or a traceback (a 500, or worse)."""
        signs = ("Traceback", "Unhandled error", "Error handling request", "Exception on ")
        return [line for line in self.log_text().splitlines() if any(sign in line for sign in signs)]


def acquit(environment: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run `acquit ARGS` to its end in a process of its own (output captured)."""
    return subprocess.run([str(Path(sys.executable).with_name("acquit")), *args], cwd=REPO_ROOT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def start_acquit(environment: dict[str, str], *args: str, log_path: Path) -> subprocess.Popen:
    """Start `acquit ARGS` (a long-running one: `worker`) in a process group of its own."""
    with log_path.open("a") as log:
        return subprocess.Popen([str(Path(sys.executable).with_name("acquit")), *args], cwd=REPO_ROOT,
                                env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


# --- A person at the portal ------------------------------------------------------------------------


def hidden_value(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', html) or re.search(
        rf'<input[^>]*value="([^"]*)"[^>]*name="{re.escape(name)}"', html)
    assert found, f"no field {name!r} in the page:\n{html[:3000]}"
    return found.group(1)


@dataclass
class Browser:
    """One person's browser: a cookie jar and what it does over HTTP. Never retries on its own."""

    base_url: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        # An English-speaking person: the pages' words are what the scenarios read.
        self.session.headers["Accept-Language"] = "en"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=kwargs.pop("timeout", 60), **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        return self.session.post(self.base_url + path, data=data, timeout=kwargs.pop("timeout", 60), **kwargs)

    def sign_in(self, email: str, password: str = Builders.PASSWORD) -> None:
        page = self.get("/login")
        answer = self.post("/login", {"email": email, "password": password,
                                      "csrf_token": hidden_value(page.text, "csrf_token")}, allow_redirects=False)
        assert answer.status_code == 303, answer.text

    def pay_form(self, invoice_id: int, card_id: int) -> dict:
        """The pay page's form for one invoice, as the page hands it out (its CSRF token and attempt key)."""
        page = self.get("/payments/new", params={"invoice": invoice_id})
        assert page.status_code == 200, page.text
        return {"csrf_token": hidden_value(page.text, "csrf_token"),
                "attempt_key": hidden_value(page.text, "attempt_key"), "invoice-0": str(invoice_id),
                "card": str(card_id)}

    def guest_form(self, pay_path: str) -> dict:
        """The PAY NOW page's form: its CSRF token, attempt key and the SetupIntent the card goes into."""
        page = self.get(pay_path)
        assert page.status_code == 200, page.text
        return {name: hidden_value(page.text, name) for name in ("csrf_token", "attempt_key", "setup_id")}


# --- What it all came to ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """A clerk's company with a saved card, its invoices, and their ids (the test reads them again later)."""

    company_id: int
    company_ref: str
    customer_id: str
    payer_email: str
    card_id: int
    invoice_ids: list[int]


def latest(session: Session) -> Session:
    """`session`, to read what the portal's processes committed since: a new transaction (a new
    snapshot on SQLite), every object read again."""
    session.commit()
    session.expire_all()
    return session


def succeeded_charges_by_invoice(session: Session, stripe: LocalStripe) -> Counter:
    """How many succeeded charges localstripe holds for each invoice, through the payment their
    PaymentIntent names (the portal puts its payment id in the intent's metadata)."""
    latest(session)
    intents = {intent["id"]: intent for intent in stripe.payment_intents()}
    charged: Counter = Counter()
    for charge in stripe.succeeded_charges():
        metadata = intents[charge["payment_intent"]].get("metadata") or {}
        payment = session.get(Payment, int(metadata["payment_id"])) if "payment_id" in metadata else None
        assert payment is not None, f"charge {charge['id']} names no payment of ours: {metadata}"
        for allocation in payment.allocations:
            charged[allocation.invoice_id] += 1
    return charged


def invoices_paid_once(session: Session, stripe: LocalStripe, invoice_ids: list[int]) -> tuple[int, int]:
    """(invoices settled exactly once, invoices charged more than once), checking the ledger agrees with Stripe.

    Settled once: one succeeded charge at localstripe, one succeeded payment in the database
    that is that very charge, the invoice's amount due zero, and no claim left on it.
    """
    charged = succeeded_charges_by_invoice(session, stripe)
    settled_once = 0
    for invoice_id in invoice_ids:
        invoice = session.get(Invoice, invoice_id)
        succeeded = list(session.scalars(
            select(Payment).join(PaymentAllocation).where(PaymentAllocation.invoice_id == invoice_id,
                                                          Payment.status == "succeeded")))
        if charged[invoice_id] == 1 and len(succeeded) == 1 and invoice.amount_due == 0:
            settled_once += 1
    return settled_once, sum(1 for invoice_id in invoice_ids if charged[invoice_id] > 1)


def audit_actions(session: Session, payment_id: int) -> list[str]:
    latest(session)
    return list(session.scalars(select(AuditEvent.action).where(AuditEvent.payment_id == payment_id)
                                .order_by(AuditEvent.id)))


def company_payments(session: Session, company_id: int) -> list[Payment]:
    latest(session)
    return list(session.scalars(select(Payment).where(Payment.company_id == company_id).order_by(Payment.id)))


# --- A PostgreSQL server to restart ----------------------------------------------------------------


class PostgresServer:
    """A throwaway PostgreSQL server in a directory of its own on a free port of 127.0.0.1.

    `stop()` and `start()` take it down and bring it back on the same port with the same
    data, as a restart, an upgrade or a failover does to the portal's connections. Made
    with the binaries in `bin_dir` (scripts/test-postgres exports ACQUIT_TEST_POSTGRES_BIN);
    as root, run as the `postgres` OS user, as initdb refuses root.
    """

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        # Not under pytest's tmp_path: as root, that is closed to the postgres user.
        self.root = Path(tempfile.mkdtemp(prefix="acquit-faults-postgres-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = os.urandom(16).hex()
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://acquit:{self.password}@{HOST}:{self.port}/postgres"

    def create(self) -> None:
        (self.root / "password").write_text(self.password + "\n")
        if self._as_owner:
            subprocess.run(["chown", "-R", "postgres:", str(self.root)], check=True)
        self._run("initdb", "-D", str(self.data), "--username=acquit", f"--pwfile={self.root / 'password'}",
                  "--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8", "--locale=C.UTF-8",
                  "--no-sync")
        self.start()

    def start(self) -> None:
        self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.root / "postgres.log"),
                  "-o", f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories={self.root} "
                        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back and every connection is cut."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", check=False)
        subprocess.run(["rm", "-rf", str(self.root)], check=False)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        done = subprocess.run([*self._as_owner, str(self.bin_dir / program), *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"{program} {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
