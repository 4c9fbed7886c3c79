"""The same API write sent several times at once (an ERP retrying on a timeout, two sync jobs):
one creates, the others get 200 (unchanged) or 409, never a 500.

The app runs over real HTTP on a database of its own with real commits, so the requests
truly overlap: on PostgreSQL (scripts/test-postgres) the losers of a race to insert the same
number met a unique violation; SQLite serializes API writes (BEGIN IMMEDIATE).
"""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import requests
from sqlalchemy import func, select

from portal.accounts.api_keys import create_api_key
from portal.db import begin_write
from portal.models import Company, CreditNote, Invoice
from tests.builders import Builders
from tests.conftest import migrated_database
from tests.live import engine_of, serve, session_on

WRITERS = 8


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with serve(migrated_database(tmp_path_factory, "api-concurrent"), "api-concurrent") as server:
        yield server


@pytest.fixture(scope="module")
def session(live):
    with engine_of(live) as engine, session_on(engine) as session:
        yield session


@pytest.fixture(scope="module")
def headers(session) -> dict:
    _, key = create_api_key(session, "concurrent-erp")
    session.commit()
    return {"Authorization": f"Bearer {key}"}


def send_all_at_once(live, headers, method: str, path: str, body: dict) -> Counter:
    """`WRITERS` identical requests from their own threads and connections, released together."""
    start = threading.Barrier(WRITERS)

    def send(_):
        start.wait()
        return requests.request(method, f"{live.url}/api/v1{path}", json=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(WRITERS) as pool:
        responses = list(pool.map(send, range(WRITERS)))
    assert all(response.status_code < 500 for response in responses), [r.text for r in responses if r.status_code >= 500]
    return Counter(response.status_code for response in responses)


def count(session, model, *where) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_same_company_put_at_once_is_created_once(live, session, headers):
    statuses = send_all_at_once(live, headers, "PUT", "/companies/RACE-CO",
                                {"name": "Race Co", "billing_emails": ["ap@race.test"], "currency": "EUR"})

    assert statuses == Counter({201: 1, 200: WRITERS - 1})
    assert count(session, Company, Company.external_ref == "RACE-CO") == 1


def test_the_same_invoice_put_at_once_is_created_once(live, session, headers):
    Builders(session).company(ref="RACE-INV")
    session.commit()
    issued = date.today() - timedelta(days=1)
    body = {"company_ref": "RACE-INV", "issue_date": issued.isoformat(),
            "due_date": (issued + timedelta(days=30)).isoformat(), "currency": "EUR",
            "lines": [{"description": "Pallets", "quantity": "3", "unit_amount": 1500, "tax_rate": "20"}]}

    statuses = send_all_at_once(live, headers, "PUT", "/invoices/INV-RACE-1", body)

    assert statuses == Counter({201: 1, 200: WRITERS - 1})
    assert count(session, Invoice, Invoice.number == "INV-RACE-1") == 1


def test_the_same_credit_note_posted_at_once_is_recorded_once(live, session, headers):
    invoice = Builders(session).invoice(Builders(session).company(ref="RACE-CN"), number="INV-RACE-CN", total=100_00)
    session.commit()
    body = {"number": "CN-RACE-1", "invoice_number": invoice.number, "amount": 60_00, "reason": "damaged"}

    statuses = send_all_at_once(live, headers, "POST", "/credit-notes", body)

    assert statuses == Counter({201: 1, 200: WRITERS - 1})
    assert count(session, CreditNote, CreditNote.number == "CN-RACE-1") == 1
    session.refresh(invoice)
    assert invoice.amount_credited == 60_00


def test_the_same_credit_note_number_for_two_invoices_at_once_records_one_and_refuses_the_other(
        live, session, headers):
    make = Builders(session)
    company = make.company(ref="RACE-CN2")
    first, second = make.invoice(company, total=50_00), make.invoice(company, total=50_00)
    session.commit()
    start = threading.Barrier(2)

    def send(invoice_number):
        start.wait()
        return requests.post(f"{live.url}/api/v1/credit-notes", headers=headers, timeout=60, json={
            "number": "CN-RACE-2", "invoice_number": invoice_number, "amount": 10_00})

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(response.status_code for response in pool.map(send, [first.number, second.number]))

    assert statuses == [201, 409]
    assert count(session, CreditNote, CreditNote.number == "CN-RACE-2") == 1


def test_requests_refused_for_their_key_or_body_are_answered_while_another_writer_holds_the_database(live, headers):
    # Checking the key and the body takes no write lock: only a request that will write waits for one.
    with engine_of(live) as engine, session_on(engine) as writer:
        begin_write(writer)
        Builders(writer).company(ref="HOLDS-THE-LOCK")
        writer.flush()
        try:
            refused_key = requests.put(f"{live.url}/api/v1/companies/LOCKED-OUT", json={"name": "Locked Out"},
                                       headers={"Authorization": "Bearer acq_not-a-key"}, timeout=5)
            refused_body = requests.put(f"{live.url}/api/v1/invoices/INV-LOCKED", json={"currency": "EUR"},
                                        headers=headers, timeout=5)
        finally:
            writer.rollback()

    assert refused_key.status_code == 401
    assert (refused_body.status_code, refused_body.json()["error"]["code"]) == (422, "validation_error")
