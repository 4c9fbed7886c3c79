"""The SMTP server goes away under a running portal (gunicorn): stopped, then silent.

Meanwhile the ERP creates invoices through the API (each e-mailed to the customer, with its
PDF, by the worker) and a clerk pays (each payment e-mails a receipt, sent by the request).
Stopped: connections are refused. Silent: the port takes the connection and never says a
word, which costs a sender the whole timeout. Every request still answers within
ACQUIT_SMTP_TIMEOUT (and the machine's own pace), and every e-mail waits in the outbox. Then
the SMTP server comes back, the outbox's retry wait passes (the test moves it rather than
waiting a minute), and two `acquit worker` processes deliver at the same time: each e-mail
arrives exactly once, none is lost.
"""

import os
import re
import signal
import socket
import time
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from portal.accounts.api_keys import create_api_key
from portal.db import begin_write
from portal.models import OutboxMessage
from portal.models.types import utcnow
from tests.conftest import SmtpServer
from tests.faults.rig import HOST, Browser, invoices_paid_once, latest, start_acquit, wait_until
from tests.localstripe_server import LocalStripe

pytestmark = pytest.mark.slow

SMTP_TIMEOUT = 2
#: What a request may take beyond the SMTP timeout on a busy two-core machine (a PDF is drawn for each invoice).
MARGIN = 8
MESSAGE_ID = re.compile(r"acquit-(\d+)@")


def silent_smtp_port(port: int) -> socket.socket:
    """A listener on `port` that accepts connections (the kernel does) and never speaks."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))
    listener.listen(64)
    return listener


def invoice_body(company_ref: str) -> dict:
    today = date.today()
    return {"company_ref": company_ref, "issue_date": today.isoformat(),
            "due_date": (today + timedelta(days=30)).isoformat(), "currency": "EUR",
            "lines": [{"description": "Pallets", "quantity": 3, "unit_amount": 1999, "tax_rate": "20.00"}]}


def outbox(ledger) -> list[OutboxMessage]:
    return list(latest(ledger).scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_mail_waits_out_an_smtp_outage_and_is_delivered_once_by_two_workers(stripe: LocalStripe, seed, ledger,
                                                                              portal, tmp_path, fault_report):
    seeded = seed(invoices=[100_00, 200_00], billing_emails=["ap@buyer.test"])
    _, api_key = create_api_key(ledger, "faults")
    ledger.commit()
    smtp = SmtpServer()
    web = portal(stripe_api_base=stripe.api_base, stripe_timeout=20, smtp_port=smtp.port, smtp_timeout=SMTP_TIMEOUT)
    erp = Browser(web.url)
    erp.session.headers["Authorization"] = f"Bearer {api_key}"
    clerk = Browser(web.url)
    clerk.sign_in(seeded.payer_email)
    slowest = 0.0

    def timed(call, expected_status: int):
        nonlocal slowest
        started = time.monotonic()
        answer = call()
        slowest = max(slowest, time.monotonic() - started)
        assert answer.status_code == expected_status, answer.text

    # Stopped: never started, so every connection is refused.
    for number in ("INV-SMTP-1", "INV-SMTP-2"):
        timed(lambda: erp.session.put(f"{web.url}/api/v1/invoices/{number}", json=invoice_body(seeded.company_ref), timeout=60),
              201)
    first, second = seeded.invoice_ids
    timed(lambda: clerk.post("/payments", clerk.pay_form(first, seeded.card_id), allow_redirects=False), 303)
    # Silent: connections are taken, nothing is ever said.
    silent = silent_smtp_port(smtp.port)
    try:
        timed(lambda: erp.session.put(f"{web.url}/api/v1/invoices/INV-SMTP-3", json=invoice_body(seeded.company_ref),
                                      timeout=60), 201)
        timed(lambda: clerk.post("/payments", clerk.pay_form(second, seeded.card_id), allow_redirects=False), 303)
    finally:
        silent.close()
    assert slowest < SMTP_TIMEOUT + MARGIN, slowest

    waiting = outbox(ledger)
    # Three invoices to the customer's address (their PDFs are left to the worker), two receipts
    # (each tried once by its request); none sent.
    assert len(waiting) >= 5 and {message.status for message in waiting} == {"pending"}
    assert sorted(message.attempts for message in waiting)[-2:] == [1, 1]

    back_at = time.monotonic()
    smtp.start()
    try:
        # A minute passes: the first retry wait (portal.mail.outbox.FIRST_RETRY_AFTER) is over.
        latest(ledger)
        begin_write(ledger)
        for message in ledger.scalars(select(OutboxMessage)):
            message.next_attempt_at = utcnow()
        ledger.commit()
        worker_environment = {**web.environment, "ACQUIT_WORKER_OUTBOX_SECONDS": "1"}
        workers = [start_acquit(worker_environment, "worker", log_path=tmp_path / f"worker-{n}.log") for n in (1, 2)]
        try:
            wait_until(lambda: {message.status for message in outbox(ledger)} == {"sent"}, timeout=60, every=0.5,
                       what="the workers sending every e-mail")
            recovery = time.monotonic() - back_at
        finally:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=30)
        delivered = outbox(ledger)
        # Give a second delivery of any of them the time to arrive before counting.
        time.sleep(1)
        arrived = Counter(int(MESSAGE_ID.search(received.message["Message-ID"]).group(1))
                          for received in smtp.messages)
    finally:
        smtp.stop()

    assert set(arrived) == {message.id for message in delivered}
    assert set(arrived.values()) == {1}, arrived
    mail_lost = len({message.id for message in delivered} - set(arrived))
    settled_once, double_charges = invoices_paid_once(ledger, stripe, seeded.invoice_ids)
    assert (settled_once, double_charges) == (2, 0)
    assert web.unhandled_errors() == []
    fault_report("SMTP server stopped, then silent", attempted=2, settled_once=settled_once,
                 double_charges=double_charges, mail_lost=mail_lost, recovery_seconds=recovery)
