"""Stripe unreachable, then Stripe slow, under a running portal (gunicorn) with clerks and a guest paying.

Unreachable: the proxy the portal reaches Stripe through stops listening, so every
connection is refused. Slow: the proxy carries each charge to Stripe, then holds the answer
past the portal's Stripe timeout. Either way every page answers in words (no 500), no
request waits much longer than the timeout, and a payment whose answer never came stays in
flight ("unknown"), holding its invoice. Once Stripe answers again, `acquit payments
reconcile` settles each of them exactly once: charged if Stripe has the charge, "never
reached" once Stripe has had no record of it for the ten minutes a delayed request could
take (the test moves those payments' start back rather than waiting). Paying again then
charges each invoice once; submitting an old form again charges nothing.
"""

import time
from datetime import timedelta

import pytest

from portal.db import begin_write
from portal.guest.links import PayLinks
from portal.models import Invoice, PaymentStatus
from tests.faults.rig import SECRET_KEY, Browser, acquit, company_payments, invoices_paid_once, latest
from tests.payments.conftest import VISA, confirm_setup_like_stripe_js
from tests.payments.fault_proxy import Fault, FaultProxy

pytestmark = pytest.mark.slow

CHARGE_PATH = "^/v1/payment_intents$"
STRIPE_TIMEOUT = 2
#: What a request may take beyond the Stripe timeout on a busy two-core machine.
MARGIN = 8
GUEST_EMAIL = "guest@payer.test"


def guest_path(ledger, web, invoice_id: int) -> str:
    invoice = latest(ledger).get(Invoice, invoice_id)
    return PayLinks(SECRET_KEY, web.url).link_for(invoice).url.removeprefix(web.url)


def guest_form_with_card(guest: Browser, path: str, stripe_api) -> dict:
    """The PAY NOW form with a card typed in: Stripe.js (here, the test) confirms the page's SetupIntent."""
    form = guest.guest_form(path)
    confirm_setup_like_stripe_js(stripe_api, form["setup_id"], VISA)
    return {**form, "email": GUEST_EMAIL}


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


def reconcile(web) -> str:
    done = acquit(web.environment, "payments", "reconcile")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_stripe_unreachable_refuses_nothing_in_a_500_and_every_payment_settles_once(
        stripe, seed, ledger, portal, fault_report):
    seeded = seed(invoices=[100_00, 200_00, 300_00])
    first, second, guests = seeded.invoice_ids
    proxy = FaultProxy.start(stripe.api_base)
    try:
        web = portal(stripe_api_base=proxy.url, stripe_timeout=STRIPE_TIMEOUT)
        clerk, guest = Browser(web.url), Browser(web.url)
        clerk.sign_in(seeded.payer_email)
        forms = [clerk.pay_form(invoice_id, seeded.card_id) for invoice_id in (first, second)]
        pay_now = guest_path(ledger, web, guests)
        guest_form = guest_form_with_card(guest, pay_now, seed.stripe_api)
        proxy.stop()

        for form in forms:
            answer, took = timed(lambda: clerk.post("/payments", form))
            assert answer.status_code == 200 and took < STRIPE_TIMEOUT + MARGIN, (answer.status_code, took)
            assert "checking" in answer.text.lower(), answer.text
        guest_answer, took = timed(lambda: guest.post(pay_now, guest_form))
        assert guest_answer.status_code == 503 and took < STRIPE_TIMEOUT + MARGIN, (guest_answer.status_code, took)
        assert "Nothing was charged" in guest_answer.text, guest_answer.text
        page = guest.get(pay_now)
        assert page.status_code == 200 and "Card payment is unavailable for a moment" in page.text

        unknown = company_payments(ledger, seeded.company_id)
        assert [payment.status for payment in unknown] == [PaymentStatus.PROCESSING] * 2

        back_at = time.monotonic()
        proxy = FaultProxy.start(stripe.api_base, port=int(proxy.url.rsplit(":", 1)[1]))
        assert "2 still open" in reconcile(web)
        # Ten minutes pass: Stripe, answering again, has no charge for them, so they never reached it.
        latest(ledger)
        begin_write(ledger)
        for payment in unknown:
            payment.created_at -= timedelta(minutes=11)
        ledger.commit()
        assert "2 failed" in reconcile(web)
        assert {payment.failure_code for payment in company_payments(ledger, seeded.company_id)} == {"never_reached"}

        for invoice_id in (first, second):
            paid = clerk.post("/payments", clerk.pay_form(invoice_id, seeded.card_id))
            assert paid.status_code == 200 and "checking" not in paid.text.lower(), paid.text
        paid = guest.post(pay_now, guest_form_with_card(guest, pay_now, seed.stripe_api), allow_redirects=False)
        assert paid.status_code == 303, paid.text
        recovery = time.monotonic() - back_at
        # The forms of the attempts Stripe never saw, sent again, are those attempts, not new charges.
        for form in forms:
            again = clerk.post("/payments", form)
            assert again.status_code == 402 and "never reached the card processor" in again.text, again.text

        settled_once, double_charges = invoices_paid_once(ledger, stripe, [first, second, guests])
        assert (settled_once, double_charges) == (3, 0)
        assert len(stripe.payment_intents()) == 3
        assert web.unhandled_errors() == []
    finally:
        proxy.stop()
    fault_report("Stripe unreachable", attempted=3, settled_once=settled_once, double_charges=double_charges,
                 recovery_seconds=recovery)


def test_stripe_slower_than_the_timeout_leaves_payments_unknown_until_reconcile_settles_each_once(
        stripe, seed, ledger, portal, fault_report):
    seeded = seed(invoices=[100_00, 200_00, 300_00])
    first, second, guests = seeded.invoice_ids
    with FaultProxy.start(stripe.api_base) as proxy:
        web = portal(stripe_api_base=proxy.url, stripe_timeout=STRIPE_TIMEOUT)
        clerk, guest = Browser(web.url), Browser(web.url)
        clerk.sign_in(seeded.payer_email)
        forms = [clerk.pay_form(invoice_id, seeded.card_id) for invoice_id in (first, second)]
        pay_now = guest_path(ledger, web, guests)
        guest_form = guest_form_with_card(guest, pay_now, seed.stripe_api)

        # Each charge reaches Stripe, which charges; its answer comes after the portal gave up.
        proxy.fail_next(Fault.FORWARD_THEN_TIMEOUT, path=CHARGE_PATH, times=3)
        for form in forms:
            answer, took = timed(lambda: clerk.post("/payments", form, allow_redirects=False))
            assert answer.status_code == 303 and took < STRIPE_TIMEOUT + MARGIN, (answer.status_code, took)
        answer, took = timed(lambda: guest.post(pay_now, guest_form, allow_redirects=False))
        assert answer.status_code == 303 and took < STRIPE_TIMEOUT + MARGIN, (answer.status_code, took)
        # A card form Stripe is too slow to prepare: the page says so, in time.
        proxy.fail_next(Fault.FORWARD_THEN_TIMEOUT, path="^/v1/setup_intents$")
        page, took = timed(lambda: Browser(web.url).get(pay_now))
        assert page.status_code == 200 and took < STRIPE_TIMEOUT + MARGIN, (page.status_code, took)
        assert "Card payment is unavailable for a moment" in page.text

        in_flight = company_payments(ledger, seeded.company_id)
        assert [payment.status for payment in in_flight] == [PaymentStatus.PROCESSING] * 3
        assert [intent["status"] for intent in stripe.payment_intents()] == ["succeeded"] * 3

        fast_again_at = time.monotonic()
        assert "3 settled" in reconcile(web)
        recovery = time.monotonic() - fast_again_at

        assert [payment.status for payment in company_payments(ledger, seeded.company_id)] == [
            PaymentStatus.SUCCEEDED] * 3
        for form in forms:
            again = clerk.post("/payments", form)
            assert again.status_code == 200 and "checking" not in again.text.lower(), again.text
        assert guest.post(pay_now, guest_form).status_code == 200
        settled_once, double_charges = invoices_paid_once(ledger, stripe, [first, second, guests])
        assert (settled_once, double_charges) == (3, 0)
        assert len(stripe.payment_intents()) == 3
        assert web.unhandled_errors() == []
    fault_report("Stripe slower than the timeout", attempted=3, settled_once=settled_once,
                 double_charges=double_charges, recovery_seconds=recovery)
