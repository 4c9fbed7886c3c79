"""The web process is killed mid-payment: after Stripe charged the card, before the portal recorded it.

The portal runs under gunicorn; localstripe sits behind a proxy that carries the clerk's
charge to Stripe and then holds its answer back. Once Stripe has charged, every gunicorn
process is SIGKILLed (a crash, an OOM kill, a machine lost): the payment row says
"processing" while the card is charged. The portal is started again and `acquit payments
reconcile` runs in a process of its own. No webhook is registered: reconcile alone settles it.

Then the invoice is paid exactly once (one payment, one PaymentIntent, the audit trail
whole), and the clerk, whose browser saw only a dropped connection, submitting the same
form again is shown that payment, not charged again.
"""

import threading
import time

import pytest
import requests

from portal.models import InvoicePaymentClaim, PaymentStatus
from tests.faults.rig import Browser, acquit, audit_actions, company_payments, invoices_paid_once, wait_until
from tests.payments.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.slow

CHARGE_PATH = "/v1/payment_intents"


def charged_at_stripe(proxy: FaultProxy) -> bool:
    return any(seen.path == CHARGE_PATH and seen.method == "POST" and seen.forwarded and seen.upstream_status == 200
               for seen in proxy.requests)


def test_a_payment_cut_off_by_killing_the_web_process_is_settled_once(stripe, seed, ledger, portal, fault_report):
    seeded = seed(invoices=[1_234_56])
    [invoice_id] = seeded.invoice_ids
    with FaultProxy.start(stripe.api_base) as proxy:
        # A long timeout: the portal is still waiting for Stripe's answer when it is killed.
        web = portal(stripe_api_base=proxy.url, stripe_timeout=30)
        clerk = Browser(web.url)
        clerk.sign_in(seeded.payer_email)
        form = clerk.pay_form(invoice_id, seeded.card_id)
        proxy.fail_next(Fault.FORWARD_THEN_TIMEOUT, path=f"^{CHARGE_PATH}$")

        answers: list = []

        def submit():
            try:
                answers.append(clerk.post("/payments", form, allow_redirects=False))
            except requests.ConnectionError as dropped:
                answers.append(dropped)

        submitting = threading.Thread(target=submit)
        submitting.start()
        wait_until(lambda: charged_at_stripe(proxy), timeout=20, what="Stripe charging the card")
        web.kill()
        submitting.join(timeout=30)

        # The browser saw the connection drop; the card is charged; the portal never heard.
        [dropped] = answers
        assert isinstance(dropped, requests.ConnectionError), dropped
        [payment] = company_payments(ledger, seeded.company_id)
        assert payment.status == PaymentStatus.PROCESSING and payment.provider_reference is None
        assert [intent["status"] for intent in stripe.payment_intents(customer=seeded.customer_id)] == ["succeeded"]

        crashed_at = time.monotonic()
        web.start()
        reconciled = acquit(web.environment, "payments", "reconcile")
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert "1 settled" in reconciled.stdout, reconciled.stdout
        recovery = time.monotonic() - crashed_at

        [payment] = company_payments(ledger, seeded.company_id)
        assert payment.status == PaymentStatus.SUCCEEDED
        [intent] = stripe.payment_intents(customer=seeded.customer_id)
        assert (payment.provider_reference, intent["status"], intent["amount"]) == (intent["id"], "succeeded", 1_234_56)
        assert ledger.get(InvoicePaymentClaim, invoice_id) is None
        actions = audit_actions(ledger, payment.id)
        assert actions[0] == "payment.started" and actions.count("payment.succeeded") == 1, actions

        # The clerk tries again with the very form the dropped connection left on screen.
        again = clerk.post("/payments", form, allow_redirects=False)
        assert (again.status_code, again.headers.get("Location")) == (303, f"/payments/{payment.id}")
        shown = clerk.get(again.headers["Location"])
        assert shown.status_code == 200
        assert len(company_payments(ledger, seeded.company_id)) == 1
        assert len(stripe.payment_intents(customer=seeded.customer_id)) == 1
        settled_once, double_charges = invoices_paid_once(ledger, stripe, [invoice_id])
        assert (settled_once, double_charges) == (1, 0)
        assert web.unhandled_errors() == []

    fault_report("web process killed mid-payment", attempted=1, settled_once=settled_once,
                 double_charges=double_charges, recovery_seconds=recovery)
