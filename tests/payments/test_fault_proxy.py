"""The fault proxy between the real stripe library and localstripe.

Most tests pay (or refund) through the proxy with a short client timeout and check two
things: what the stripe library raises, and what localstripe holds afterwards, since a
fault after forwarding means the provider did the work even though the caller saw an
error. The table in fault_proxy.py's docstring is what these tests verify.
"""

import time
from collections.abc import Iterator

import pytest
import stripe

from tests.localstripe_server import TEST_SECRET_KEY, WebhookInbox
from tests.payments.conftest import closed_port
from tests.payments.fault_proxy import Fault, FaultProxy

CLIENT_TIMEOUT_SECONDS = 1


@pytest.fixture
def fault_proxy(stripe_server) -> Iterator[FaultProxy]:
    """A proxy in front of a freshly emptied localstripe."""
    with FaultProxy.start(stripe_server.api_base) as proxy:
        yield proxy


def client_through(proxy: FaultProxy, *, max_network_retries: int = 0) -> stripe.StripeClient:
    """The real stripe library, calling localstripe through `proxy`, giving up after a second."""
    return stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": proxy.url},
                               http_client=stripe.RequestsClient(timeout=CLIENT_TIMEOUT_SECONDS),
                               max_network_retries=max_network_retries)


@pytest.fixture
def client(fault_proxy) -> stripe.StripeClient:
    return client_through(fault_proxy)


@pytest.fixture
def charge_params(stripe_server, stripe_api) -> dict:
    """A one-call charge of a Visa card on file, set up straight at localstripe, not through the proxy."""
    customer = stripe_api.v1.customers.create({"name": "Fault Proxy SAS"})
    card = stripe_api.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    return {"amount": 12345, "currency": "eur", "customer": customer.id, "payment_method": card.id,
            "payment_method_types": ["card"], "confirm": True}


# (fault, what stripe raises, its http_status): the table in fault_proxy.py.
FAULTS_AFTER_FORWARDING = [
    (Fault.FORWARD_THEN_500, stripe.APIError, 500),
    (Fault.FORWARD_THEN_502, stripe.APIError, 502),
    (Fault.FORWARD_THEN_503, stripe.APIError, 503),
    (Fault.FORWARD_THEN_DROP, stripe.APIConnectionError, None),
    (Fault.FORWARD_THEN_TIMEOUT, stripe.APIConnectionError, None),
    (Fault.FORWARD_THEN_429, stripe.RateLimitError, 429),
]
FAULTS_BEFORE_FORWARDING = [
    (Fault.REJECT_429, stripe.RateLimitError, 429),
    (Fault.DROP_BEFORE_FORWARD, stripe.APIConnectionError, None),
]


@pytest.mark.parametrize(("fault", "raised", "http_status"), FAULTS_AFTER_FORWARDING,
                         ids=[fault.name for fault, *_ in FAULTS_AFTER_FORWARDING])
def test_a_fault_after_forwarding_raises_yet_the_charge_was_made(
        fault_proxy, client, stripe_server, charge_params, fault, raised, http_status):
    fault_proxy.fail_next(fault)

    with pytest.raises(stripe.StripeError) as failure:
        client.v1.payment_intents.create(charge_params)

    assert failure.type is raised
    assert failure.value.http_status == http_status
    assert [pi["status"] for pi in stripe_server.payment_intents(customer=charge_params["customer"])] == ["succeeded"]
    assert len(stripe_server.succeeded_charges(customer=charge_params["customer"])) == 1
    [request] = fault_proxy.requests
    assert (request.fault, request.forwarded, request.upstream_status) == (fault, True, 200)


@pytest.mark.parametrize(("fault", "raised", "http_status"), FAULTS_BEFORE_FORWARDING,
                         ids=[fault.name for fault, *_ in FAULTS_BEFORE_FORWARDING])
def test_a_fault_before_forwarding_raises_and_nothing_reached_the_provider(
        fault_proxy, client, stripe_server, charge_params, fault, raised, http_status):
    fault_proxy.fail_next(fault)

    with pytest.raises(stripe.StripeError) as failure:
        client.v1.payment_intents.create(charge_params)

    assert failure.type is raised
    assert failure.value.http_status == http_status
    assert stripe_server.payment_intents(customer=charge_params["customer"]) == []
    [request] = fault_proxy.requests
    assert (request.fault, request.forwarded, request.upstream_status) == (fault, False, None)


def test_a_rate_limit_answer_carries_stripes_rate_limit_code_in_error_only(fault_proxy, client, charge_params):
    fault_proxy.fail_next(Fault.REJECT_429)

    with pytest.raises(stripe.RateLimitError) as failure:
        client.v1.payment_intents.create(charge_params)

    # The library builds RateLimitError without passing the code on, unlike CardError.
    assert failure.value.code is None
    assert failure.value.error.code == "rate_limit"
    assert not isinstance(failure.value, stripe.APIError)


@pytest.mark.parametrize("fault", [Fault.FORWARD_THEN_DROP, Fault.FORWARD_THEN_TIMEOUT, Fault.DROP_BEFORE_FORWARD],
                         ids=lambda fault: fault.name)
def test_a_lost_connection_is_one_the_library_would_retry(fault_proxy, client, charge_params, fault):
    fault_proxy.fail_next(fault)

    with pytest.raises(stripe.APIConnectionError) as failure:
        client.v1.payment_intents.create(charge_params)

    assert failure.value.should_retry


def test_a_refund_answered_500_was_made_at_the_provider(fault_proxy, client, stripe_server, stripe_api,
                                                        charge_params):
    intent = stripe_api.v1.payment_intents.create(charge_params)
    fault_proxy.fail_next(Fault.FORWARD_THEN_500, path=r"^/v1/refunds$")

    with pytest.raises(stripe.APIError):
        client.v1.refunds.create({"payment_intent": intent.id, "amount": 100})

    assert [refund["amount"] for refund in stripe_server.refunds(payment_intent=intent.id)] == [100]


def test_unmatched_requests_pass_through_untouched(fault_proxy, client, stripe_server, charge_params):
    fault_proxy.fail_next(Fault.FORWARD_THEN_DROP, path=r"^/v1/refunds$")

    created = client.v1.payment_intents.create(charge_params)
    retrieved = client.v1.payment_intents.retrieve(created.id, {"expand": ["latest_charge"]})
    deleted = client.v1.customers.delete(charge_params["customer"])

    assert created.status == retrieved.status == "succeeded"
    assert retrieved.latest_charge.amount == 12345
    assert deleted.deleted is True
    assert [pi["id"] for pi in stripe_server.payment_intents()] == [created.id]
    assert [(r.method, r.path, r.fault, r.upstream_status) for r in fault_proxy.requests] == [
        ("POST", "/v1/payment_intents", None, 200),
        ("GET", f"/v1/payment_intents/{created.id}", None, 200),
        ("DELETE", f"/v1/customers/{charge_params['customer']}", None, 200),
    ]


def test_the_provider_receives_the_librarys_request_as_sent():
    # A bare recorder stands in for the provider, to see exactly what arrives.
    with WebhookInbox() as recorder, FaultProxy.start(recorder.url.removesuffix("/webhooks/stripe")) as proxy:
        with pytest.raises(stripe.APIError):  # the recorder's empty 200 is no Stripe answer
            client_through(proxy).v1.customers.create({"name": "Fault Proxy SAS"}, {"idempotency_key": "pay-7"})

    [received] = recorder.received
    assert received.body == b"name=Fault+Proxy+SAS"
    assert received.headers["Authorization"] == f"Bearer {TEST_SECRET_KEY}"
    assert received.headers["Idempotency-Key"] == "pay-7"
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert received.headers["Stripe-Version"] == stripe.api_version


def test_a_provider_that_is_down_is_answered_502_like_a_gateway_would():
    with FaultProxy.start(f"http://127.0.0.1:{closed_port()}") as proxy:
        with pytest.raises(stripe.APIError) as failure:
            client_through(proxy).v1.customers.create({"name": "Fault Proxy SAS"})

    assert failure.value.http_status == 502
    [request] = proxy.requests
    assert (request.fault, request.forwarded) == (None, False)


def test_a_fault_planned_twice_fails_two_requests_then_lets_them_through(fault_proxy, client, stripe_server,
                                                                         charge_params):
    fault_proxy.fail_next(Fault.FORWARD_THEN_503, times=2)

    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.payment_intents.create(charge_params)
    third = client.v1.payment_intents.create(charge_params)

    assert third.status == "succeeded"
    assert [request.fault for request in fault_proxy.requests] == [Fault.FORWARD_THEN_503] * 2 + [None]
    assert len(stripe_server.succeeded_charges(customer=charge_params["customer"])) == 3


def test_clear_forgets_planned_faults(fault_proxy, client, charge_params):
    fault_proxy.fail_next(Fault.FORWARD_THEN_500)
    fault_proxy.clear()

    assert client.v1.payment_intents.create(charge_params).status == "succeeded"


def test_the_librarys_own_retry_charges_twice_on_localstripe(fault_proxy, stripe_server, charge_params):
    """Why the gateway runs with max_network_retries=0: localstripe ignores Idempotency-Key."""
    fault_proxy.fail_next(Fault.FORWARD_THEN_500)

    intent = client_through(fault_proxy, max_network_retries=1).v1.payment_intents.create(charge_params)

    assert intent.status == "succeeded"
    first, retry = fault_proxy.requests
    assert first.idempotency_key == retry.idempotency_key is not None
    assert len(stripe_server.succeeded_charges(customer=charge_params["customer"])) == 2


def test_stop_lets_go_of_a_held_connection_at_once(fault_proxy, client, charge_params):
    fault_proxy.fail_next(Fault.FORWARD_THEN_TIMEOUT)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.create(charge_params)

    started = time.monotonic()
    fault_proxy.stop()

    assert time.monotonic() - started < 1
