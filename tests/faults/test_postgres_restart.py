"""PostgreSQL stops under a running portal (gunicorn) with a payment in flight, then comes back.

A clerk's charge reaches Stripe, which charges; while the portal waits for the answer, the
database is shut down (fast: every connection cut). The portal cannot record what happened:
the clerk is told to try again in a moment (503), as is every page and API write while the
database is away, and /readyz takes the process out of a load balancer. Nothing is half
written: the payment row committed before the charge still says "processing".

PostgreSQL starts again on the same port. The portal's pooled connections are all dead; it
answers again at once without a restart, `acquit payments reconcile` settles the payment
exactly once, the clerk's form sent again shows that payment and charges nothing, and the
ERP's refused write, sent again, is created once.

PostgreSQL only: the test runs a server of its own (the suite's shared one must not stop
under the other tests), made with the binaries scripts/test-postgres names.
"""

import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import migrate
from portal.accounts.api_keys import create_api_key
from portal.models import Invoice, PaymentStatus
from tests.faults.rig import (
    Browser,
    PostgresServer,
    acquit,
    audit_actions,
    company_payments,
    invoices_paid_once,
    latest,
    wait_until,
)
from tests.faults.test_smtp_down import invoice_body
from tests.faults.test_web_killed import CHARGE_PATH, charged_at_stripe
from tests.payments.fault_proxy import Fault, FaultProxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("ACQUIT_TEST_DATABASE_URL") or not os.environ.get("ACQUIT_TEST_POSTGRES_BIN"),
                       reason="PostgreSQL only: run it with ./scripts/test-postgres tests/faults"),
]

#: Long enough for the database to be stopped while the portal still waits for Stripe.
STRIPE_TIMEOUT = 10
TRY_AGAIN = "Please try again in a moment."


@pytest.fixture
def postgres_server():
    server = PostgresServer(Path(os.environ["ACQUIT_TEST_POSTGRES_BIN"]))
    try:
        server.create()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def fault_database_url(postgres_server):
    """The database of a PostgreSQL server of this test's own, which the test stops and starts."""
    migrate.upgrade(postgres_server.url)
    return postgres_server.url


def test_a_postgres_restart_mid_payment_loses_nothing_and_charges_once(stripe, seed, ledger, portal, postgres_server,
                                                                       fault_report):
    server = postgres_server
    seeded = seed(invoices=[100_00, 200_00])
    first, second = seeded.invoice_ids
    _, api_key = create_api_key(ledger, "faults")
    ledger.commit()
    with FaultProxy.start(stripe.api_base) as proxy:
        web = portal(stripe_api_base=proxy.url, stripe_timeout=STRIPE_TIMEOUT)
        clerk, erp = Browser(web.url), Browser(web.url)
        erp.session.headers["Authorization"] = f"Bearer {api_key}"
        clerk.sign_in(seeded.payer_email)
        form = clerk.pay_form(first, seeded.card_id)
        proxy.fail_next(Fault.FORWARD_THEN_TIMEOUT, path=f"^{CHARGE_PATH}$")

        answers = []
        submitting = threading.Thread(target=lambda: answers.append(clerk.post("/payments", form)))
        submitting.start()
        wait_until(lambda: charged_at_stripe(proxy), timeout=20, what="Stripe charging the card")
        ledger.close()
        server.stop()
        submitting.join(timeout=60)

        [cut_off] = answers
        assert cut_off.status_code == 503 and TRY_AGAIN in cut_off.text, (cut_off.status_code, cut_off.text)
        page = clerk.get("/invoices")
        assert page.status_code == 503 and TRY_AGAIN in page.text
        refused = erp.session.put(f"{web.url}/api/v1/invoices/INV-PG-1", json=invoice_body(seeded.company_ref), timeout=60)
        assert (refused.status_code, refused.json()["error"]["code"]) == (503, "unavailable")
        assert refused.headers["Retry-After"] == "5"
        assert clerk.get("/readyz").status_code == 503

        back_at = time.monotonic()
        server.start()
        wait_until(lambda: clerk.get("/invoices").status_code == 200, timeout=30, what="the portal answering again")
        answering = time.monotonic() - back_at

        [payment] = company_payments(ledger, seeded.company_id)
        assert payment.status == PaymentStatus.PROCESSING, "the payment row committed before the charge is intact"
        reconciled = acquit(web.environment, "payments", "reconcile")
        assert reconciled.returncode == 0 and "1 settled" in reconciled.stdout, reconciled.stdout + reconciled.stderr
        recovery = time.monotonic() - back_at
        [payment] = company_payments(ledger, seeded.company_id)
        assert payment.status == PaymentStatus.SUCCEEDED
        assert audit_actions(ledger, payment.id).count("payment.succeeded") == 1

        again = clerk.post("/payments", form, allow_redirects=False)
        assert (again.status_code, again.headers.get("Location")) == (303, f"/payments/{payment.id}")
        assert latest(ledger).scalar(select(Invoice.id).where(Invoice.number == "INV-PG-1")) is None
        created = erp.session.put(f"{web.url}/api/v1/invoices/INV-PG-1", json=invoice_body(seeded.company_ref), timeout=60)
        assert created.status_code == 201, created.text
        paid = clerk.post("/payments", clerk.pay_form(second, seeded.card_id), allow_redirects=False)
        assert paid.status_code == 303, paid.text

        settled_once, double_charges = invoices_paid_once(ledger, stripe, [first, second])
        assert (settled_once, double_charges) == (2, 0)
        assert len(stripe.payment_intents(customer=seeded.customer_id)) == 2
        assert web.unhandled_errors() == []
    print(f"the portal answered again {answering:.1f} s after PostgreSQL was back")
    fault_report("PostgreSQL restarted mid-payment", attempted=2, settled_once=settled_once,
                 double_charges=double_charges, recovery_seconds=recovery)
