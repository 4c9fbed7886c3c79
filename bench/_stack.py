"""The parts a production-like run of Acquit needs, each started and stopped on this machine.

Shared by the load scenario (bench/load.py) and the fault scripts: a throwaway PostgreSQL
server, localstripe (the test suite's fake Stripe, tests/localstripe_server.py), an SMTP
sink (aiosmtpd), gunicorn serving wsgi:app and `acquit worker`, all on 127.0.0.1 and free
ports, configured through the environment exactly as a deployment is (README, Configuration).

    with Stack.start(workdir) as stack:       # PostgreSQL, localstripe, SMTP sink
        stack.run_acquit("db", "upgrade")
        stack.start_web(workers=2, threads=4)  # gunicorn; waits for /readyz
        stack.start_worker()
        stack.web.base_url, stack.database_url, stack.stripe.api_base, stack.smtp.messages

Every child's output goes to a log file in `workdir`; `Stack.stop()` ends what it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))  # tests/ holds the localstripe launcher

from portal.demo import DEMO_SUPPLIER  # noqa: E402
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, LocalStripe  # noqa: E402

VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
WEBHOOK_SECRET = "whsec_acquit_bench"
# The app refuses to start without the supplier's legal identity: the demo's fictitious one, named for the bench.
SUPPLIER = {**DEMO_SUPPLIER, "ACQUIT_SUPPLIER_NAME": "Acquit Bench Supplier"}


class StackError(RuntimeError):
    """A part did not start; the message says which and quotes its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# --- PostgreSQL -----------------------------------------------------------------------------


def _postgres_bin() -> Path:
    """The server binaries: PostgreSQL 15 as CI has it, else the newest installed (as scripts/test-postgres)."""
    preferred = Path("/usr/lib/postgresql/15/bin")
    if (preferred / "pg_ctl").exists():
        return preferred
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise StackError("PostgreSQL is not installed: apt-get install postgresql (the server binaries are needed)")


class Postgres:
    """A throwaway PostgreSQL server in a directory of its own, on a free port of 127.0.0.1.

    Password authentication over TCP, as the app connects in production. As root the server
    runs as the `postgres` OS user, since initdb refuses to run as root. Durability settings
    are PostgreSQL's defaults (fsync on), so writes cost what they would on a real server.
    """

    def __init__(self):
        # A folder of its own (not inside the caller's, which the `postgres` user may not be let into).
        self.directory = Path(tempfile.mkdtemp(prefix="acquit-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.bin = _postgres_bin()
        self.password = secrets.token_hex(16)
        self.port = 0
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://acquit:{self.password}@{HOST}:{self.port}/postgres"

    def start(self) -> Postgres:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Postgres:
        password_file = self.directory / "password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        if self._as_owner:
            shutil.chown(self.directory, "postgres")
            shutil.chown(password_file, "postgres")
        initdb = subprocess.run(
            [*self._as_owner, str(self.bin / "initdb"), "-D", str(self.data), "--username=acquit",
             f"--pwfile={password_file}", "--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8",
             "--locale=C.UTF-8"], capture_output=True, text=True)
        if initdb.returncode:
            raise StackError("initdb failed:\n" + initdb.stdout + initdb.stderr)
        for _attempt in range(10):
            self.port = free_port()
            if self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log), "-o", self._options()).returncode == 0:
                return self
        raise StackError("PostgreSQL did not start:\n" + _tail(self.log))

    def _options(self) -> str:
        return (f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories={self.directory} "
                f"-c max_connections=200")

    def _pg_ctl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as_owner, str(self.bin / "pg_ctl"), *arguments, "-D", str(self.data)],
                              capture_output=True, text=True)

    def restart(self) -> None:
        """Stop the server (fast: connections are cut) and start it again on the same port."""
        result = self._pg_ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(self.log), "-o", self._options())
        if result.returncode:
            raise StackError("PostgreSQL did not restart:\n" + result.stderr + _tail(self.log))

    def stop(self) -> None:
        """Stop the server and delete it."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


# --- The SMTP sink --------------------------------------------------------------------------


class SmtpSink:
    """An aiosmtpd server on a free port of 127.0.0.1 that accepts and counts every message."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        sink = self
        self.messages = 0
        self._lock = threading.Lock()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                with sink._lock:
                    sink.messages += 1
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname=HOST, port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


# --- The app's processes --------------------------------------------------------------------


@dataclass
class Child:
    """A child process of the stack, its output in a log file."""

    name: str
    process: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL, as when the machine loses the process mid-request."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Web(Child):
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass
class Stack:
    """PostgreSQL, localstripe and the SMTP sink; then, on demand, gunicorn and the worker."""

    directory: Path
    postgres: Postgres
    stripe: LocalStripe
    smtp: SmtpSink
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    web_port: int = field(default_factory=free_port)
    web: Web | None = None
    worker: Child | None = None

    @classmethod
    def start(cls, directory: Path | None = None) -> Stack:
        directory = Path(directory or tempfile.mkdtemp(prefix="acquit-stack-"))
        postgres = Postgres().start()
        try:
            stripe = LocalStripe.start()
        except BaseException:
            postgres.stop()
            raise
        return cls(directory, postgres, stripe, SmtpSink().start())

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def database_url(self) -> str:
        return self.postgres.url

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    def environment(self, **overrides: str) -> dict[str, str]:
        """The environment the app's processes get: a deployment's settings, pointed at this stack."""
        environment = {
            **os.environ, **SUPPLIER,
            "ACQUIT_DATABASE_URL": self.database_url,
            "ACQUIT_SECRET_KEY": self.secret_key,
            "ACQUIT_BASE_URL": self.base_url,
            "ACQUIT_ATTACHMENT_DIR": str(self.directory / "attachments"),
            "ACQUIT_SMTP_HOST": HOST,
            "ACQUIT_SMTP_PORT": str(self.smtp.port),
            "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ACQUIT_STRIPE_API_BASE": self.stripe.api_base,
            "ACQUIT_STRIPE_JS_URL": self.stripe.stripe_js_url,
            "ACQUIT_WORKER_OUTBOX_SECONDS": "10",
            "ACQUIT_WORKER_RECONCILE_SECONDS": "30",
        }
        environment.update(overrides)
        return environment

    def run_acquit(self, *arguments: str) -> str:
        """Run an `acquit` command against the stack; its output, or StackError if it failed."""
        result = subprocess.run([str(VENV_BIN / "acquit"), *arguments], cwd=REPOSITORY, env=self.environment(),
                                capture_output=True, text=True)
        if result.returncode:
            raise StackError(f"acquit {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def start_web(self, *, workers: int, threads: int, timeout: float = 60) -> Web:
        """gunicorn serving wsgi:app (with deploy/gunicorn.conf.py when there is one); returns once /readyz is 200."""
        command = [str(VENV_BIN / "gunicorn")]
        config = REPOSITORY / "deploy" / "gunicorn.conf.py"
        if config.exists():
            command += ["--config", str(config)]
        else:
            # As deploy/gunicorn.conf.py has it: idle keep-alive connections outlive the clients'
            # pauses, so gunicorn never closes one just as a client sends on it (a reset, not an answer).
            command += ["--keep-alive", "75"]
        # Given last, these win over the config file's.
        command += ["--bind", f"{HOST}:{self.web_port}", "--workers", str(workers), "--worker-class", "gthread",
                    "--threads", str(threads), "wsgi:app"]
        self.web = Web("gunicorn", *self._spawn("gunicorn", command), port=self.web_port)
        self._wait_until_ready(self.web, timeout)
        return self.web

    def start_worker(self) -> Child:
        self.worker = Child("worker", *self._spawn("worker", [str(VENV_BIN / "acquit"), "worker"]))
        return self.worker

    def _spawn(self, name: str, command: list[str]) -> tuple[subprocess.Popen, Path]:
        log = self.directory / f"{name}.log"
        with open(log, "ab") as output:
            process = subprocess.Popen(command, cwd=REPOSITORY, env=self.environment(), stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        return process, log

    def _wait_until_ready(self, web: Web, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if web.process.poll() is not None:
                raise StackError(f"gunicorn exited with {web.process.returncode}:\n{_tail(web.log)}")
            try:
                with urllib.request.urlopen(f"{web.base_url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            if time.monotonic() > deadline:
                raise StackError(f"gunicorn did not get ready in {timeout:.0f} s:\n{_tail(web.log)}")
            time.sleep(0.2)

    def stop(self) -> None:
        for child in (self.worker, self.web):
            if child is not None:
                child.stop()
        self.smtp.stop()
        self.stripe.stop()
        self.postgres.stop()
