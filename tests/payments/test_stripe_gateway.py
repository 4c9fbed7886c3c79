"""StripeGateway, method by method, against localstripe through the real stripe library.

Each test looks at localstripe afterwards: what the gateway answers must be what
"Stripe" holds.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from portal.payments.errors import InvalidWebhook, OutcomeUnknown, PaymentDeclined, PaymentError
from portal.payments.gateway import ChargeStatus, RefundState
from portal.payments.setup import gateway_from_config
from portal.payments.stripe_gateway import PROVIDER_CLOCK_SKEW, StripeGateway
from tests.localstripe_server import TEST_SECRET_KEY, LocalStripeError
from tests.payments.conftest import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    VISA,
    WEBHOOK_SECRET,
    closed_port,
    confirm_setup_like_stripe_js,
    stripe_config,
    stripe_signature,
)

A_MINUTE_AGO = datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture
def gateway(stripe_server) -> StripeGateway:
    gateway = gateway_from_config(stripe_config(stripe_server))
    assert isinstance(gateway, StripeGateway)
    return gateway


@pytest.fixture
def customer(gateway) -> str:
    return gateway.create_customer(name="Customer SAS", email="ap@customer.test", company_ref="CUST-1")


def saved_card(gateway, api, customer: str, number: str = VISA) -> str:
    setup = gateway.start_card_setup(customer_id=customer)
    confirm_setup_like_stripe_js(api, setup.setup_id, number)
    return gateway.finish_card_setup(customer_id=customer, setup_id=setup.setup_id).provider_id


def charge(gateway, customer: str, card: str, amount: int = 12_345, payment_id: str = "7"):
    return gateway.charge(customer_id=customer, card_id=card, amount=amount, currency="EUR",
                          idempotency_key=f"pay-test-{payment_id}",
                          metadata={"payment_id": payment_id, "payment_key": f"pay-test-{payment_id}",
                                    "company_ref": "CUST-1"}, off_session=False)


def test_the_gateway_follows_the_config_it_is_given(stripe_server):
    gateway = gateway_from_config(stripe_config(stripe_server))
    assert gateway.publishable_key.startswith("pk_test_")
    assert gateway.js_url == stripe_server.stripe_js_url


def test_create_customer_keeps_name_email_and_our_reference(gateway, stripe_api):
    customer_id = gateway.create_customer(name="Customer SAS", email="ap@customer.test", company_ref="CUST-42")
    customer = stripe_api.v1.customers.retrieve(customer_id)
    assert (customer.name, customer.email, customer.metadata.to_dict()) == (
        "Customer SAS", "ap@customer.test", {"company_ref": "CUST-42"})


def test_create_customer_without_email(gateway, stripe_api):
    customer = stripe_api.v1.customers.retrieve(gateway.create_customer(name="No Mail SA", email=None,
                                                                         company_ref="CUST-43"))
    assert (customer.name, customer.email) == ("No Mail SA", None)


def test_start_card_setup_opens_an_off_session_card_setup_for_the_customer(gateway, stripe_api, customer):
    setup = gateway.start_card_setup(customer_id=customer)
    at_stripe = stripe_api.v1.setup_intents.retrieve(setup.setup_id)
    assert (at_stripe.customer, at_stripe.usage, at_stripe.status) == (customer, "off_session",
                                                                        "requires_payment_method")
    assert setup.client_secret == at_stripe.client_secret


def test_finish_card_setup_attaches_the_card_localstripe_left_unattached(gateway, stripe_api, customer):
    setup = gateway.start_card_setup(customer_id=customer)
    method_id = confirm_setup_like_stripe_js(stripe_api, setup.setup_id, VISA)
    assert stripe_api.v1.payment_methods.retrieve(method_id).customer is None

    details = gateway.finish_card_setup(customer_id=customer, setup_id=setup.setup_id)

    assert (details.provider_id, details.brand, details.last4, details.exp_month, details.exp_year) == (
        method_id, "visa", "4242", 12, 2030)
    assert stripe_api.v1.payment_methods.retrieve(method_id).customer == customer


def test_finish_card_setup_accepts_a_card_already_attached_as_real_stripe_does(gateway, stripe_api, customer):
    setup = gateway.start_card_setup(customer_id=customer)
    method_id = confirm_setup_like_stripe_js(stripe_api, setup.setup_id, NEEDS_AUTHENTICATION)
    stripe_api.v1.payment_methods.attach(method_id, {"customer": customer})

    details = gateway.finish_card_setup(customer_id=customer, setup_id=setup.setup_id)

    assert (details.provider_id, details.last4) == (method_id, "3184")
    assert [method.id for method in stripe_api.v1.payment_methods.list({"customer": customer, "type": "card"})] == [
        method_id]


def test_finish_card_setup_refuses_a_setup_the_browser_did_not_complete(gateway, customer):
    setup = gateway.start_card_setup(customer_id=customer)
    with pytest.raises(PaymentError) as refused:
        gateway.finish_card_setup(customer_id=customer, setup_id=setup.setup_id)
    assert refused.value.code == "setup_incomplete"


def test_finish_card_setup_refuses_another_customers_setup(gateway, stripe_api, customer):
    other = gateway.create_customer(name="Other SARL", email=None, company_ref="CUST-2")
    setup = gateway.start_card_setup(customer_id=other)
    method_id = confirm_setup_like_stripe_js(stripe_api, setup.setup_id, VISA)
    with pytest.raises(PaymentError) as refused:
        gateway.finish_card_setup(customer_id=customer, setup_id=setup.setup_id)
    assert refused.value.code == "setup_mismatch"
    assert stripe_api.v1.payment_methods.retrieve(method_id).customer is None


def test_finish_card_setup_refuses_a_card_attached_to_another_customer(gateway, stripe_api, customer):
    other = gateway.create_customer(name="Other SARL", email=None, company_ref="CUST-2")
    setup = gateway.start_card_setup(customer_id=customer)
    method_id = confirm_setup_like_stripe_js(stripe_api, setup.setup_id, VISA)
    stripe_api.v1.payment_methods.attach(method_id, {"customer": other})
    with pytest.raises(PaymentError) as refused:
        gateway.finish_card_setup(customer_id=customer, setup_id=setup.setup_id)
    assert refused.value.code == "setup_mismatch"


def test_detach_card_forgets_it_at_stripe(gateway, stripe_api, customer):
    card = saved_card(gateway, stripe_api, customer)
    gateway.detach_card(card_id=card)
    assert stripe_api.v1.payment_methods.retrieve(card).customer is None
    assert list(stripe_api.v1.payment_methods.list({"customer": customer, "type": "card"})) == []


def test_a_charge_that_succeeds(gateway, stripe_api, stripe_server, customer):
    card = saved_card(gateway, stripe_api, customer)

    result = charge(gateway, customer, card, amount=12_345)

    assert (result.status, result.amount, result.currency, result.client_secret) == (
        ChargeStatus.SUCCEEDED, 12_345, "EUR", None)
    assert result.metadata == {"payment_id": "7", "payment_key": "pay-test-7", "company_ref": "CUST-1"}
    [intent] = stripe_server.payment_intents(customer=customer)
    assert (intent["id"], intent["amount"], intent["currency"], intent["payment_method"], intent["status"]) == (
        result.reference, 12_345, "eur", card, "succeeded")
    assert [(c["amount"], c["payment_intent"]) for c in stripe_server.succeeded_charges(customer=customer)] == [
        (12_345, result.reference)]


def test_a_charge_that_needs_3d_secure_waits_for_the_cardholder(gateway, stripe_api, stripe_server, customer):
    card = saved_card(gateway, stripe_api, customer, NEEDS_AUTHENTICATION)

    result = charge(gateway, customer, card)

    [intent] = stripe_server.payment_intents(customer=customer)
    assert (result.status, result.reference, result.client_secret) == (
        ChargeStatus.REQUIRES_ACTION, intent["id"], intent["client_secret"])
    assert stripe_server.succeeded_charges(customer=customer) == []


@pytest.mark.parametrize("card_source", ["number", "token"])
def test_a_declined_charge_raises_payment_declined_and_moves_no_money(gateway, stripe_api, stripe_server, customer,
                                                                     card_source):
    if card_source == "number":
        card = saved_card(gateway, stripe_api, customer, DECLINED_ON_CHARGE)
    else:
        card = stripe_api.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer}).id

    with pytest.raises(PaymentDeclined) as declined:
        charge(gateway, customer, card)

    assert str(declined.value) == "Your card was declined."
    assert [c["status"] for c in stripe_server.charges(customer=customer)] == ["failed"]
    assert stripe_server.succeeded_charges(customer=customer) == []


def test_a_charge_on_a_card_stripe_does_not_know_is_refused_not_declined(gateway, customer):
    with pytest.raises(PaymentError) as refused:
        charge(gateway, customer, "pm_unknown")
    assert not isinstance(refused.value, (PaymentDeclined, OutcomeUnknown))


@pytest.mark.parametrize(("success", "status", "failure_code"), [
    (True, ChargeStatus.SUCCEEDED, None),
    (False, ChargeStatus.FAILED, "authentication_failed"),
])
def test_retrieve_charge_reports_how_3d_secure_ended(gateway, stripe_api, stripe_server, customer, success, status,
                                                    failure_code):
    card = saved_card(gateway, stripe_api, customer, NEEDS_AUTHENTICATION)
    waiting = charge(gateway, customer, card)
    [intent] = stripe_server.payment_intents(customer=customer)
    stripe_server.authenticate_payment_intent(intent, success=success)

    result = gateway.retrieve_charge(waiting.reference)

    assert (result.reference, result.status, result.failure_code, result.client_secret) == (
        waiting.reference, status, failure_code, None)
    assert len(stripe_server.succeeded_charges(customer=customer)) == (1 if success else 0)


def test_cancel_charge_abandons_a_charge_waiting_for_the_cardholder(gateway, stripe_api, stripe_server, customer):
    card = saved_card(gateway, stripe_api, customer, NEEDS_AUTHENTICATION)
    waiting = charge(gateway, customer, card)

    result = gateway.cancel_charge(waiting.reference)

    assert result.status == ChargeStatus.FAILED
    [intent] = stripe_server.payment_intents(customer=customer)
    assert intent["status"] == "canceled"
    with pytest.raises(LocalStripeError, match="400"):
        stripe_server.authenticate_payment_intent(intent, success=True)
    assert stripe_server.succeeded_charges(customer=customer) == []


def test_find_charge_finds_our_payment_by_its_metadata_beyond_the_first_page(gateway, stripe_api, customer):
    # localstripe lists oldest first, 100 to a page: the charge we look for is on page two.
    for number in range(100):
        stripe_api.v1.payment_intents.create({"amount": 100, "currency": "eur", "customer": customer,
                                              "metadata": {"payment_key": f"pay-test-{1000 + number}"}})
    card = saved_card(gateway, stripe_api, customer)
    made = charge(gateway, customer, card, amount=4_321, payment_id="77")

    found = gateway.find_charge(payment_key="pay-test-77", made_after=A_MINUTE_AGO)

    assert (found.reference, found.status, found.amount) == (made.reference, ChargeStatus.SUCCEEDED, 4_321)
    assert gateway.find_charge(payment_key="pay-test-78", made_after=A_MINUTE_AGO) is None


def test_find_charge_asks_only_for_charges_made_since_our_payment(stripe_server, fault_proxy):
    # Real Stripe filters the list by `created`; localstripe refuses the filter, and the
    # gateway then pages every intent (what this test's second request shows).
    gateway = gateway_from_config({**stripe_config(stripe_server), "ACQUIT_STRIPE_API_BASE": fault_proxy.url})
    made_after = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    assert gateway.find_charge(payment_key="pay-test-1", made_after=made_after) is None

    asked = [(request.query, request.upstream_status) for request in fault_proxy.requests]
    bound = int((made_after - PROVIDER_CLOCK_SKEW).timestamp())
    assert asked == [({"limit": "100", "created[gte]": str(bound)}, 400), ({"limit": "100"}, 200)]


def test_a_partial_refund_shows_at_stripe(gateway, stripe_api, stripe_server, customer):
    card = saved_card(gateway, stripe_api, customer)
    made = charge(gateway, customer, card, amount=10_000)

    result = gateway.refund(reference=made.reference, amount=2_500, idempotency_key="refund-test-1",
                            metadata={"refund_key": "refund-test-1", "payment_id": "7"})

    assert (result.amount, result.state) == (2_500, RefundState.SUCCEEDED)
    [refund] = stripe_server.refunds(payment_intent=made.reference)
    assert (refund["id"], refund["amount"], refund["metadata"]) == (
        result.reference, 2_500, {"refund_key": "refund-test-1", "payment_id": "7"})
    assert gateway.retrieve_refund(result.reference) == result
    assert gateway.find_refund(charge_reference=made.reference, refund_key="refund-test-1") == result
    assert gateway.find_refund(charge_reference=made.reference, refund_key="refund-test-2") is None
    [charged] = stripe_server.succeeded_charges(customer=customer)
    assert (charged["amount"], charged["amount_refunded"], charged["refunded"]) == (10_000, 2_500, False)


def test_parse_webhook_reads_a_real_signed_event(gateway, stripe_api, inbox, customer):
    card = saved_card(gateway, stripe_api, customer)
    made = charge(gateway, customer, card, amount=5_000, payment_id="9")
    delivery = inbox.wait_for("payment_intent.succeeded", object_id=made.reference)

    event = gateway.parse_webhook(delivery.body, delivery.signature)

    assert (event.event_id, event.event_type) == (delivery.event["id"], "payment_intent.succeeded")
    assert (event.charge.reference, event.charge.status, event.charge.amount, event.charge.currency) == (
        made.reference, ChargeStatus.SUCCEEDED, 5_000, "EUR")
    assert event.charge.metadata["payment_id"] == "9"


def test_parse_webhook_reads_a_decline(gateway, stripe_api, stripe_server, inbox, customer):
    card = saved_card(gateway, stripe_api, customer, DECLINED_ON_CHARGE)
    with pytest.raises(PaymentDeclined):
        charge(gateway, customer, card, payment_id="10")
    [intent] = stripe_server.payment_intents(customer=customer)
    delivery = inbox.wait_for("payment_intent.payment_failed", object_id=intent["id"])

    event = gateway.parse_webhook(delivery.body, delivery.signature)

    assert (event.event_type, event.charge.status, event.charge.failure_code, event.charge.failure_message) == (
        "payment_intent.payment_failed", ChargeStatus.FAILED, "card_declined", "Your card was declined.")


def test_parse_webhook_refuses_what_stripe_did_not_sign(gateway):
    body = json.dumps({"id": "evt_1", "type": "customer.created", "object": "event",
                       "data": {"object": {"id": "cus_1", "object": "customer"}}}).encode()
    assert gateway.parse_webhook(body, stripe_signature(body, WEBHOOK_SECRET)).event_id == "evt_1"
    for signature in (None, "", stripe_signature(body, "whsec_someone_else"), "t=1,v1=00"):
        with pytest.raises(InvalidWebhook):
            gateway.parse_webhook(body, signature)


@pytest.mark.parametrize("call", [
    lambda g: g.create_customer(name="X", email=None, company_ref="C"),
    lambda g: g.start_card_setup(customer_id="cus_1"),
    lambda g: g.finish_card_setup(customer_id="cus_1", setup_id="seti_1"),
    lambda g: g.detach_card(card_id="pm_1"),
    lambda g: charge(g, "cus_1", "pm_1"),
    lambda g: g.retrieve_charge("pi_1"),
    lambda g: g.cancel_charge("pi_1"),
    lambda g: g.find_charge(payment_key="pay-1", made_after=A_MINUTE_AGO),
    lambda g: g.refund(reference="pi_1", amount=100, idempotency_key="refund-x", metadata={}),
    lambda g: g.retrieve_refund("re_1"),
    lambda g: g.find_refund(charge_reference="pi_1", refund_key="refund-x"),
], ids=["create_customer", "start_card_setup", "finish_card_setup", "detach_card", "charge", "retrieve_charge",
        "cancel_charge", "find_charge", "refund", "retrieve_refund", "find_refund"])
def test_every_call_raises_outcome_unknown_when_stripe_does_not_answer(call):
    gateway = StripeGateway(secret_key=TEST_SECRET_KEY, publishable_key="pk_test_x", webhook_secret=WEBHOOK_SECRET,
                            api_base=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(OutcomeUnknown):
        call(gateway)
