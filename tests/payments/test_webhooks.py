"""Stripe's events: verified, applied once, in whatever order they come; and reconciliation.

The events are the ones localstripe really sends (caught by the `WebhookInbox`), replayed
into the app's POST /stripe/webhook. A payment is put in the state an event must change
by wrapping the real `StripeGateway`: the charge reaches localstripe, and then the answer
is "lost" (as when the network drops), or the webhook is let in before it returns.
"""

import dataclasses
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.models import AuditEvent, InvoicePaymentClaim, OutboxMessage, PaymentStatus, ProcessedWebhookEvent
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import OutcomeUnknown, PaymentDeclined
from portal.payments.provider_events import reconcile
from portal.payments.setup import gateway_from_config
from tests.payments.conftest import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    WEBHOOK_SECRET,
    closed_port,
    replay_webhook,
    stripe_config,
    stripe_signature,
)


@pytest.fixture
def app_overrides(stripe_settings):
    return stripe_settings


@pytest.fixture
def company(make):
    return make.company(locale="en")


@pytest.fixture
def payer(make, company):
    return make.user(company, locale="en")


class LostAnswerGateway:
    """The real gateway, except that the answer to a charge never comes back.

    The charge reaches localstripe (and is made, or declined); the caller sees the
    network fail, as it would if the connection dropped after Stripe acted.
    """

    def __init__(self, gateway):
        self._gateway = gateway

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def charge(self, **kwargs):
        try:
            self._gateway.charge(**kwargs)
        except PaymentDeclined:
            pass
        raise OutcomeUnknown("the connection dropped before Stripe answered")


class NeverReachedGateway(LostAnswerGateway):
    """The network fails before the charge reaches Stripe."""

    def charge(self, **kwargs):
        raise OutcomeUnknown("no route to the payment service")


class WebhookFirstGateway(LostAnswerGateway):
    """Charges, then lets Stripe's payment_intent.succeeded in before returning the answer."""

    def __init__(self, gateway, inbox, client):
        super().__init__(gateway)
        self._inbox = inbox
        self._client = client
        self.webhook_answer = None

    def charge(self, **kwargs):
        charge = self._gateway.charge(**kwargs)
        delivery = self._inbox.wait_for("payment_intent.succeeded", object_id=charge.reference)
        self.webhook_answer = replay_webhook(self._client, delivery.body, delivery.signature).get_json()
        return charge


def pay_with(db, payments, gateway, payer, company, invoices, attempt="attempt-1"):
    context = dataclasses.replace(payments, gateway=gateway)
    return pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=payer.email,
                        request=PaymentRequest(invoice_ids=tuple(invoice.id for invoice in invoices),
                                               attempt_key=attempt))


def only_intent(server, company) -> dict:
    [intent] = server.payment_intents(customer=company.provider_customer_id)
    return intent


def audit_actions(db, payment) -> list[tuple[str, int | None, str]]:
    return [(event.action, event.invoice_id, event.actor_label) for event in db.scalars(
        select(AuditEvent).where(AuditEvent.payment_id == payment.id).order_by(AuditEvent.id))]


def count(db, model, *where) -> int:
    return db.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def processing_payment(db, make, payments, save_card, stripe_server, company, payer):
    """A payment charged at localstripe whose answer was lost: still processing here."""
    save_card(company, payer)
    invoice = make.invoice(company, total=250_00)
    payment = pay_with(db, payments, LostAnswerGateway(payments.gateway), payer, company, [invoice])
    assert (payment.status, payment.provider_reference) == (PaymentStatus.PROCESSING, None)
    return payment


def settled(db, payment) -> bool:
    db.refresh(payment)
    return payment.status == PaymentStatus.SUCCEEDED


# --- Signatures ---------------------------------------------------------------------------


def _unsigned(delivery):
    return delivery.body, None


def _wrong_secret(delivery):
    return delivery.body, stripe_signature(delivery.body, "whsec_not_ours")


def _tampered(delivery):
    event = json.loads(delivery.body)
    event["data"]["object"]["amount"] = 1
    return json.dumps(event).encode(), delivery.signature


def _stale(delivery):
    # Signed with the right secret, but an hour ago: a captured request replayed later.
    return delivery.body, stripe_signature(delivery.body, WEBHOOK_SECRET, timestamp=int(time.time()) - 3600)


@pytest.mark.parametrize("forge", [_unsigned, _wrong_secret, _tampered, _stale], ids=lambda forge: forge.__name__[1:])
def test_a_forged_event_is_refused_and_changes_nothing(db, client, inbox, stripe_server, company, processing_payment,
                                                       forge):
    delivery = inbox.wait_for("payment_intent.succeeded", object_id=only_intent(stripe_server, company)["id"])

    refused = replay_webhook(client, *forge(delivery))

    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "invalid_webhook"
    assert not settled(db, processing_payment)
    assert count(db, ProcessedWebhookEvent) == 0
    # The very same event, as Stripe signed it, is accepted: the refusal was the signature's.
    assert replay_webhook(client, delivery.body, delivery.signature).get_json() == {"outcome": "applied"}
    assert settled(db, processing_payment)


def test_an_event_we_sign_ourselves_now_is_accepted(db, client, inbox, stripe_server, company, processing_payment):
    delivery = inbox.wait_for("payment_intent.succeeded", object_id=only_intent(stripe_server, company)["id"])
    answer = replay_webhook(client, delivery.body, stripe_signature(delivery.body, WEBHOOK_SECRET))
    assert (answer.status_code, settled(db, processing_payment)) == (200, True)


# --- Once, and in any order ---------------------------------------------------------------


def test_a_real_event_delivered_twice_is_processed_once(db, client, inbox, stripe_server, company, payer,
                                                       processing_payment):
    delivery = inbox.wait_for("payment_intent.succeeded", object_id=only_intent(stripe_server, company)["id"])

    first = replay_webhook(client, delivery.body, delivery.signature)
    second = replay_webhook(client, delivery.body, delivery.signature)

    assert (first.get_json(), second.get_json()) == ({"outcome": "applied"}, {"outcome": "duplicate"})
    assert count(db, ProcessedWebhookEvent, ProcessedWebhookEvent.event_id == delivery.event["id"]) == 1
    [allocation] = processing_payment.allocations
    assert audit_actions(db, processing_payment) == [
        ("payment.started", None, payer.email),
        ("payment.outcome_unknown", None, payer.email),
        ("payment.succeeded", None, "system:webhook"),
        ("payment.allocated", allocation.invoice_id, "system:webhook"),
    ]
    invoice = allocation.invoice
    db.refresh(invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (250_00, 0)
    assert settled(db, processing_payment)
    assert processing_payment.provider_reference == delivery.event["data"]["object"]["id"]
    assert count(db, InvoicePaymentClaim) == 0
    assert count(db, OutboxMessage) == 1


def test_a_success_event_arriving_before_our_own_confirm_returns_settles_once(db, make, client, payments, save_card,
                                                                             inbox, stripe_server, company, payer):
    save_card(company, payer)
    invoices = [make.invoice(company, total=100_00), make.invoice(company, total=234_56)]
    gateway = WebhookFirstGateway(payments.gateway, inbox, client)

    payment = pay_with(db, payments, gateway, payer, company, invoices)

    assert gateway.webhook_answer == {"outcome": "applied"}
    db.refresh(payment)
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.provider_reference == only_intent(stripe_server, company)["id"]
    actions = [(action, invoice_id, actor) for action, invoice_id, actor in audit_actions(db, payment)
               if action != "payment.started"]
    assert actions == [("payment.succeeded", None, "system:webhook")] + [
        ("payment.allocated", invoice.id, "system:webhook") for invoice in invoices]
    for invoice in invoices:
        db.refresh(invoice)
    assert [(invoice.amount_paid, invoice.amount_due) for invoice in invoices] == [(100_00, 0), (234_56, 0)]
    assert [c["amount"] for c in stripe_server.succeeded_charges(customer=company.provider_customer_id)] == [334_56]
    assert count(db, OutboxMessage) == 1
    assert count(db, InvoicePaymentClaim) == 0


def test_a_payment_failed_event_fails_the_payment(db, make, client, payments, save_card, inbox, stripe_server,
                                                 company, payer):
    save_card(company, payer, DECLINED_ON_CHARGE)
    invoice = make.invoice(company, total=250_00)
    payment = pay_with(db, payments, LostAnswerGateway(payments.gateway), payer, company, [invoice])
    assert payment.status == PaymentStatus.PROCESSING
    intent = only_intent(stripe_server, company)
    delivery = inbox.wait_for("payment_intent.payment_failed", object_id=intent["id"])

    answer = replay_webhook(client, delivery.body, delivery.signature)

    assert answer.get_json() == {"outcome": "applied"}
    db.refresh(payment)
    db.refresh(invoice)
    assert (payment.status, payment.failure_message, payment.provider_reference) == (
        PaymentStatus.FAILED, "Your card was declined.", intent["id"])
    assert invoice.amount_due == 250_00
    assert count(db, InvoicePaymentClaim) == 0


def test_an_event_about_something_else_is_acknowledged_and_ignored(db, client, inbox, save_card, company, payer):
    save_card(company, payer)
    delivery = inbox.wait_for("customer.created", object_id=company.provider_customer_id)

    answer = replay_webhook(client, delivery.body, delivery.signature)

    assert (answer.status_code, answer.get_json()) == (200, {"outcome": "ignored"})
    assert count(db, ProcessedWebhookEvent, ProcessedWebhookEvent.event_id == delivery.event["id"]) == 1


# --- Reconciliation -----------------------------------------------------------------------


def test_reconcile_settles_a_payment_whose_answer_was_lost(app, db, stripe_server, company, processing_payment):
    runner = app.test_cli_runner()

    result = runner.invoke(args=["payments", "reconcile"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 checked: 1 settled, 0 failed, 0 still open, 0 could not be checked."
    intent = only_intent(stripe_server, company)
    assert settled(db, processing_payment)
    assert processing_payment.provider_reference == intent["id"]
    [allocation] = processing_payment.allocations
    db.refresh(allocation.invoice)
    assert allocation.invoice.amount_due == 0
    assert count(db, InvoicePaymentClaim) == 0
    assert len(stripe_server.succeeded_charges(customer=company.provider_customer_id)) == 1
    again = runner.invoke(args=["payments", "reconcile"])
    assert again.output.strip() == "0 checked: 0 settled, 0 failed, 0 still open, 0 could not be checked."


def test_reconcile_fails_a_payment_that_never_reached_stripe_after_the_time_limit(db, make, payments, save_card,
                                                                                  stripe_server, company, payer):
    save_card(company, payer)
    invoice = make.invoice(company, total=250_00)
    payment = pay_with(db, payments, NeverReachedGateway(payments.gateway), payer, company, [invoice])
    assert payment.status == PaymentStatus.PROCESSING

    early = reconcile(db, payments, now=payment.created_at + timedelta(minutes=5))
    assert (early.checked, early.still_open, payment.status) == (1, 1, PaymentStatus.PROCESSING)

    late = reconcile(db, payments, now=payment.created_at + timedelta(minutes=11))

    assert (late.checked, late.failed) == (1, 1)
    db.refresh(payment)
    db.refresh(invoice)
    assert (payment.status, payment.failure_message) == (PaymentStatus.FAILED,
                                                         "The payment never reached the card processor.")
    assert invoice.amount_due == 250_00
    assert count(db, InvoicePaymentClaim) == 0
    assert stripe_server.payment_intents(customer=company.provider_customer_id) == []


def test_reconcile_cancels_a_3d_secure_payment_abandoned_for_too_long(db, make, payments, save_card, stripe_server,
                                                                      company, payer):
    save_card(company, payer, NEEDS_AUTHENTICATION)
    invoice = make.invoice(company, total=250_00)
    payment = pay_with(db, payments, payments.gateway, payer, company, [invoice])
    assert payment.status == PaymentStatus.REQUIRES_ACTION

    assert reconcile(db, payments, now=payment.created_at + timedelta(minutes=10)).still_open == 1
    report = reconcile(db, payments, now=payment.created_at + timedelta(minutes=31))

    assert report.failed == 1
    assert only_intent(stripe_server, company)["status"] == "canceled"
    db.refresh(invoice)
    assert invoice.amount_due == 250_00
    assert count(db, InvoicePaymentClaim) == 0


def test_reconcile_leaves_payments_open_while_stripe_is_down(db, payments, stripe_server, company, processing_payment):
    down = gateway_from_config({**stripe_config(stripe_server),
                                "ACQUIT_STRIPE_API_BASE": f"http://127.0.0.1:{closed_port()}"})

    report = reconcile(db, dataclasses.replace(payments, gateway=down),
                       now=processing_payment.created_at + timedelta(hours=2))

    # Not asked is not answered: the payment stays in flight, however long ago it began.
    assert (report.checked, report.errors, report.failed) == (1, 1, 0)
    assert not settled(db, processing_payment)
    assert count(db, InvoicePaymentClaim) == 1


class BrokenForOnePaymentGateway(LostAnswerGateway):
    """The real gateway, except that looking up one payment raises an error nobody planned for."""

    def __init__(self, gateway, broken_payment_key):
        super().__init__(gateway)
        self.broken_payment_key = broken_payment_key

    def find_charge(self, *, payment_key, made_after):
        if payment_key == self.broken_payment_key:
            raise RuntimeError("unexpected answer")
        return self._gateway.find_charge(payment_key=payment_key, made_after=made_after)


def test_reconcile_goes_on_past_a_payment_it_cannot_check(app, db, make, payments, stripe_server, company, payer,
                                                          processing_payment):
    other_invoice = make.invoice(company, total=80_00)
    other = pay_with(db, payments, LostAnswerGateway(payments.gateway), payer, company, [other_invoice],
                     attempt="attempt-2")
    broken_gateway = BrokenForOnePaymentGateway(payments.gateway, processing_payment.idempotency_key)
    broken = dataclasses.replace(payments, gateway=broken_gateway)

    report = reconcile(db, broken)

    assert (report.checked, report.errors, report.settled, report.still_open) == (2, 1, 1, 0)
    assert settled(db, other)
    assert not settled(db, processing_payment)
    assert count(db, InvoicePaymentClaim) == 1  # the unchecked payment still holds its invoice
