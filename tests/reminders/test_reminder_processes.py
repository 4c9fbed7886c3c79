"""`acquit reminders run` as an operator runs it: two processes at once on a real database, a real SMTP server.

Two runs started together (two cron entries, two machines) over 800 companies send each
company one e-mail and each invoice's step once. On PostgreSQL the runs pass each other by
(`FOR UPDATE SKIP LOCKED` on the company, then the unique (invoice, step) rows); on SQLite
they take turns (BEGIN IMMEDIATE) and the unique rows decide. Each variant runs in the
suite of its database (scripts/test, scripts/test-postgres).
"""

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from portal.db import make_engine
from portal.demo import DEMO_SUPPLIER
from portal.models import ReminderEmail, ReminderItem
from tests.builders import Builders
from tests.conftest import TEST_SECRET_KEY, migrated_database

REPO = Path(__file__).resolve().parents[2]
ACQUIT = Path(sys.executable).parent / "acquit"
DUE = date(2026, 12, 15)
ON_POSTGRESQL = bool(os.environ.get("ACQUIT_TEST_DATABASE_URL"))
REPORT_LINE = re.compile(r"(\d+) reminder e-mails listing (\d+) invoices, .* (\d+) errors\.")
COMPANIES, INVOICES_EACH = 800, 1


@pytest.fixture
def run_database(request, tmp_path_factory) -> str:
    return migrated_database(tmp_path_factory, "reminders_" + re.sub(r"\W+", "_", request.node.name)[:30].strip("_"))


def seed(database_url: str) -> dict[str, list[str]]:
    """COMPANIES companies with INVOICES_EACH invoices due on DUE; their billing address -> invoice numbers."""
    engine = make_engine(database_url)
    numbers: dict[str, list[str]] = {}
    try:
        with sessionmaker(bind=engine, expire_on_commit=False)() as session:
            make = Builders(session)
            for _ in range(COMPANIES):
                company = make.company(locale="en")
                numbers[company.billing_emails[0]] = sorted(
                    make.invoice(company, due_date=DUE, issue_date=DUE - timedelta(days=30)).number
                    for _ in range(INVOICES_EACH))
            session.commit()
    finally:
        engine.dispose()
    return numbers


def reminders_run(database_url: str, smtp_server, as_of: date) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ACQUIT_", "STRIPE_", "FLASK_"))}
    env.update({**DEMO_SUPPLIER, "ACQUIT_DATABASE_URL": database_url, "ACQUIT_SECRET_KEY": TEST_SECRET_KEY,
                "ACQUIT_BASE_URL": "http://portal.test", "ACQUIT_SMTP_HOST": smtp_server.host,
                "ACQUIT_SMTP_PORT": str(smtp_server.port)})
    return subprocess.Popen([str(ACQUIT), "reminders", "run", "--as-of", as_of.isoformat()], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen) -> int:
    """Wait for a run to exit 0; returns how many e-mails it says it sent."""
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-5000:]
    report = REPORT_LINE.search(output)
    assert report and report.group(3) == "0", output[-5000:]
    return int(report.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("database", [
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not ON_POSTGRESQL, reason="needs PostgreSQL: ACQUIT_TEST_DATABASE_URL is unset (scripts/test-postgres sets it)")),
    pytest.param("sqlite", marks=pytest.mark.skipif(
        ON_POSTGRESQL, reason="this suite runs on PostgreSQL; the SQLite variant runs under scripts/test")),
])
def test_two_runs_started_together_send_each_company_one_email_and_each_step_once(
        database, run_database, smtp_server):
    assert run_database.startswith("postgresql" if database == "postgresql" else "sqlite")
    numbers = seed(run_database)

    runs = [reminders_run(run_database, smtp_server, DUE + timedelta(days=3)) for _ in range(2)]
    sent = [finished(run) for run in runs]

    assert sum(sent) == COMPANIES, sent
    if database == "postgresql":
        # Both runs did part of the work: they really ran side by side (SKIP LOCKED). SQLite
        # writes one transaction at a time, so there the second run may find everything done.
        assert min(sent) > 0, sent
    per_address = Counter(address for mail in smtp_server.messages for address in mail.recipients)
    assert per_address == Counter(dict.fromkeys(numbers, 1))
    for mail in smtp_server.messages:
        assert sorted(re.findall(r"^- (\S+), ", mail.text_body(), re.MULTILINE)) == numbers[mail.recipients[0]]
    engine = make_engine(run_database)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(ReminderEmail)) == COMPANIES
            steps = Counter(session.execute(select(ReminderItem.step)).scalars())
            assert steps == Counter({3: COMPANIES * INVOICES_EACH})
    finally:
        engine.dispose()
    # The next day, both again: nothing new is due.
    assert [finished(run) for run in [reminders_run(run_database, smtp_server, DUE + timedelta(days=4))
                                      for _ in range(2)]] == [0, 0]
    assert len(smtp_server.messages) == COMPANIES
