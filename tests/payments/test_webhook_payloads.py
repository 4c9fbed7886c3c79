"""Signed webhook payloads that are not events answer 400, never a 500.

The signature is checked first, so these are what a leaked webhook secret, a proxy mangling
bodies or a Stripe change could bring: valid JSON, validly signed, that is not an event.
"""

import json

import pytest

from portal.models import ProcessedWebhookEvent
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY
from tests.payments.conftest import WEBHOOK_SECRET, closed_port, replay_webhook, stripe_signature


@pytest.fixture
def app_overrides():
    # Verifying a webhook asks Stripe nothing: the API may as well be unreachable.
    return {"ACQUIT_PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
            "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ACQUIT_STRIPE_API_BASE": f"http://127.0.0.1:{closed_port()}"}


@pytest.mark.parametrize("body", [
    b"[]", b"[1, 2]", b'"evt_1"', b"42", b"null", b"true", b"{}",
    b'{"id": "evt_1"}',
    b'{"id": 7, "type": "payment_intent.succeeded", "data": {"object": {}}}',
    b'{"id": "evt_1", "type": ["payment_intent.succeeded"], "data": {"object": {}}}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": []}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}',
    b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1", "amount": "x",'
    b' "status": 3, "metadata": []}}}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"id": "evt_1", "type": "x", "data": {"object": ' + b"[" * 5_000 + b"]" * 5_000 + b"}}",
    "{\"id\": \"évt\"}".encode("latin-1"),
])
def test_a_signed_payload_that_is_not_an_event_gets_400_and_is_not_recorded(client, db, body):
    response = replay_webhook(client, body, stripe_signature(body, WEBHOOK_SECRET))

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"]
    assert db.query(ProcessedWebhookEvent).count() == 0


def test_an_unsigned_payload_is_still_refused_before_its_shape_is_looked_at(client):
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}).encode()

    assert replay_webhook(client, body, None).status_code == 400
    assert replay_webhook(client, body, stripe_signature(body, "whsec_someone_else")).status_code == 400
