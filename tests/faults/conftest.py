"""Fixtures for the fault scenarios: each runs the portal as real processes on a database of its own.

- `stripe`: localstripe for this test process, emptied for the test.
- `fault_database_url`: a fresh database per scenario, migrated to head, on SQLite
  or on ACQUIT_TEST_DATABASE_URL's PostgreSQL server; `ledger` is a session on it for the
  test's own seeding and checks (commit before the portal looks).
- `seed(invoices=...)`: a clerk's company, its invoices and a card saved through localstripe.
- `portal(...)`: a `PortalProcess` on a port of its own, stopped at the end of the test.
- `fault_report`: what the scenario measured (payments attempted, settled once, double
  charges, mail lost, recovery time), printed, and kept for bench/faults.py when
  ACQUIT_FAULTS_REPORT names a file.
"""

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pytest
import stripe as stripe_library
from sqlalchemy.orm import Session, sessionmaker

from portal.audit import Actor
from portal.db import make_engine
from portal.payments.context import PaymentContext
from portal.payments.setup import gateway_from_config
from tests.builders import Builders
from tests.conftest import migrated_database
from tests.faults.rig import PortalProcess, Seeded, direct_config, free_port, portal_environment
from tests.localstripe_server import TEST_SECRET_KEY, LocalStripe
from tests.payments.conftest import VISA, save_card_through_service

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def fault_localstripe() -> Iterator[LocalStripe]:
    with LocalStripe.start() as server:
        yield server


@pytest.fixture
def stripe(fault_localstripe) -> LocalStripe:
    fault_localstripe.reset()
    return fault_localstripe


@pytest.fixture
def fault_database_url(tmp_path_factory) -> str:
    return migrated_database(tmp_path_factory, f"faults-{next(_databases)}")


@pytest.fixture
def ledger(fault_database_url) -> Iterator[Session]:
    engine = make_engine(fault_database_url)
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    yield session
    session.rollback()
    session.close()
    engine.dispose()


@pytest.fixture
def seed(ledger, stripe):
    """`seed(invoices=[total, ...])`: a company whose payer has a saved Visa, and its invoices; committed."""
    config = direct_config(stripe)
    context = PaymentContext(gateway=gateway_from_config(config), supplier_name=config["ACQUIT_SUPPLIER_NAME"],
                             base_url=config["ACQUIT_BASE_URL"])
    api = stripe_library.StripeClient(TEST_SECRET_KEY, base_addresses={"api": stripe.api_base},
                                      max_network_retries=0)

    def seed_company(*, invoices: list[int], billing_emails: list[str] | None = None) -> Seeded:
        make = Builders(ledger)
        company = make.company(locale="en", billing_emails=billing_emails)
        payer = make.user(company, locale="en")
        made = [make.invoice(company, total=total) for total in invoices]
        ledger.commit()
        card = save_card_through_service(ledger, context, api, company=company, user=payer, number=VISA)
        ledger.refresh(company)
        return Seeded(company_id=company.id, company_ref=company.external_ref,
                      customer_id=company.provider_customer_id, payer_email=payer.email, card_id=card.id,
                      invoice_ids=[invoice.id for invoice in made])

    seed_company.actor = Actor.system("faults")
    seed_company.stripe_api = api
    return seed_company


@pytest.fixture
def portal(fault_database_url, stripe, tmp_path) -> Iterator:
    """`portal(stripe_api_base=..., stripe_timeout=..., smtp_port=...)`: a started `PortalProcess`.

    Its environment is in `.environment`, for the CLI commands run beside it.
    """
    started: list[PortalProcess] = []

    def start_portal(*, stripe_api_base: str, stripe_timeout: int, **settings) -> PortalProcess:
        port = free_port()
        environment = portal_environment(fault_database_url, port=port, stripe=stripe,
                                         stripe_api_base=stripe_api_base, stripe_timeout=stripe_timeout,
                                         ACQUIT_ATTACHMENT_DIR=str(tmp_path / "attachments"), **settings)
        process = PortalProcess(environment, port, tmp_path / f"portal-{len(started) + 1}.log")
        started.append(process)
        process.start()
        return process

    yield start_portal
    for process in started:
        process.stop()


@dataclass
class FaultFigures:
    scenario: str
    database: str
    payments_attempted: int
    settled_once: int
    double_charges: int
    mail_lost: int
    recovery_seconds: float


@pytest.fixture
def fault_report(fault_database_url):
    """`fault_report(scenario, attempted=, settled_once=, double_charges=, mail_lost=, recovery_seconds=)`."""
    database = "postgresql" if fault_database_url.startswith("postgresql") else "sqlite"

    def report(scenario: str, *, attempted: int, settled_once: int, double_charges: int, mail_lost: int = 0,
               recovery_seconds: float, database_name: str | None = None) -> None:
        figures = FaultFigures(scenario, database_name or database, attempted, settled_once, double_charges,
                               mail_lost, round(recovery_seconds, 2))
        print(f"\nfault figures: {figures}")
        if path := os.environ.get("ACQUIT_FAULTS_REPORT"):
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(figures)) + "\n")

    return report
