"""Fixtures for proving payments against localstripe, a real fake Stripe server.

- `localstripe` is one localstripe child process per test process (so per xdist worker),
  with a `WebhookInbox` registered for the events it sends. `stripe_server` hands it to a
  test after forgetting every object: payment ids repeat from test to test (each test's
  database is rolled back) and `find_charge` looks charges up by payment id.
  Webhook deliveries of earlier tests can still arrive after the reset, about a second
  late: match them on the id of the object they are about (`inbox.wait_for(..., object_id=)`).
- `stripe_settings` is the app config for it; a module opts in with
      @pytest.fixture
      def app_overrides(stripe_settings):
          return stripe_settings
  and `payments` is then the app's own `PaymentContext`, with its real `StripeGateway`.
- `save_card(company, user, number)` saves a card as the browser would, without one: the
  test card number becomes a PaymentMethod through the real stripe library, confirms the
  SetupIntent the service started, and the service finishes saving it.
- `payments_live_server` is the app over real HTTP, with its own database and real commits,
  paying through localstripe, for the tests where requests must truly run at once.
"""

import hashlib
import hmac
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import stripe
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.models import Company, Invoice, SavedCard, User
from portal.payments import fake_gateway
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.context import PaymentContext
from portal.payments.fake_gateway import FakeGateway
from portal.services import services_of
from tests.conftest import migrated_database
from tests.live import LiveServer, engine_of, serve, session_on
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, LocalStripe, WebhookInbox

WEBHOOK_SECRET = "whsec_acquit_payments_tests"

# Test cards, as localstripe treats them (docs/payments-localstripe.md, "Card behaviour").
VISA = "4242424242424242"
NEEDS_AUTHENTICATION = "4000002760003184"
DECLINED_ON_CHARGE = "4000000000000341"


@dataclass
class LocalStripeRig:
    server: LocalStripe
    inbox: WebhookInbox


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripeRig]:
    """localstripe for this test process, posting every event it sends to `inbox`."""
    server = LocalStripe.start()
    inbox = WebhookInbox()
    try:
        server.register_webhook(inbox.url, WEBHOOK_SECRET)
        yield LocalStripeRig(server, inbox)
    finally:
        inbox.close()
        server.stop()


@pytest.fixture
def stripe_server(localstripe) -> LocalStripe:
    """localstripe, emptied for this test."""
    localstripe.server.reset()
    return localstripe.server


@pytest.fixture
def inbox(localstripe) -> WebhookInbox:
    """What localstripe has posted to our webhook URL (earlier tests' events included)."""
    return localstripe.inbox


def stripe_config(server: LocalStripe) -> dict:
    """App config for paying through `server`."""
    return {
        "ACQUIT_PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ACQUIT_STRIPE_API_BASE": server.api_base,
        "ACQUIT_STRIPE_JS_URL": server.stripe_js_url,
    }


@pytest.fixture
def stripe_settings(stripe_server) -> dict:
    return stripe_config(stripe_server)


@pytest.fixture
def payments(app) -> PaymentContext:
    """The app's payment context (its gateway is what the config chose)."""
    return services_of(app).payments


@pytest.fixture(scope="session")
def stripe_api(localstripe) -> stripe.StripeClient:
    """The real stripe library pointed at localstripe, for what the browser would do."""
    return stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": localstripe.server.api_base},
                               max_network_retries=0)


def confirm_setup_like_stripe_js(api: stripe.StripeClient, setup_id: str, number: str) -> str:
    """What `stripe.confirmCardSetup` does with the card typed in: returns the PaymentMethod id.

    A card that asks for 3-D Secure is left in requires_action by the first confirm; a
    second one completes it, as localstripe's Stripe.js does on "Complete authentication".
    """
    method = api.v1.payment_methods.create(
        {"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
    )
    setup = api.v1.setup_intents.confirm(setup_id, {"payment_method": method.id})
    if setup.status == "requires_action":
        setup = api.v1.setup_intents.confirm(setup_id)
    assert setup.status == "succeeded", setup
    return method.id


def save_card_through_service(session: Session, context: PaymentContext, api: stripe.StripeClient, *,
                              company: Company, user: User, number: str = VISA) -> SavedCard:
    setup = start_saving_card(session, context, company=company, email=user.email)
    confirm_setup_like_stripe_js(api, setup.setup_id, number)
    card = finish_saving_card(session, context, Actor.user(user), company=company, setup_id=setup.setup_id)
    session.commit()
    return card


@pytest.fixture
def save_card(db, payments, stripe_api) -> Callable[..., SavedCard]:
    """Save a test card for `company` as `user` would, through the service and localstripe."""

    def save(company: Company, user: User, number: str = VISA) -> SavedCard:
        return save_card_through_service(db, payments, stripe_api, company=company, user=user, number=number)

    return save


def pay_form(invoices: list[Invoice], card: SavedCard, *, attempt_key: str | None = None,
             amount: str | None = None) -> dict:
    """The fields the "Pay invoices" page posts."""
    form = {f"invoice-{index}": str(invoice.id) for index, invoice in enumerate(invoices)}
    form.update(attempt_key=attempt_key or uuid.uuid4().hex, card=str(card.id))
    if amount is not None:
        form["amount"] = amount
    return form


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header made as Stripe makes it: HMAC-SHA256 of "t.payload"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens: a payment service that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def replay_webhook(client, body: bytes, signature: str | None):
    """POST an event to the webhook view as Stripe would."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/stripe/webhook", data=body, headers=headers)


# --- The app over real HTTP, committing for real, paying through localstripe ------------


@pytest.fixture(scope="session")
def payments_live_database_url(tmp_path_factory) -> str:
    return migrated_database(tmp_path_factory, "payments-live")


@pytest.fixture(scope="session")
def payments_live_server(payments_live_database_url, localstripe) -> Iterator[LiveServer]:
    """The real app over real HTTP, CSRF on, on its own database, paying through localstripe.

    Nothing is rolled back: each test seeds its own company (the builders number
    everything) and localstripe is not reset under it, so tests count charges per customer.
    """
    with serve(payments_live_database_url, "payments-live-server", **stripe_config(localstripe.server)) as live:
        yield live


@pytest.fixture(scope="session")
def payments_live_engine(payments_live_server):
    with engine_of(payments_live_server) as engine:
        yield engine


@pytest.fixture
def live_session(payments_live_engine) -> Iterator[Session]:
    with session_on(payments_live_engine) as session:
        yield session


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ATTEMPT_FIELD = re.compile(r'name="attempt_key"[^>]*value="([0-9a-f]{32})"')


def hidden_field(pattern: re.Pattern, html: str) -> str:
    found = pattern.search(html)
    assert found, f"no {pattern.pattern} in the page:\n{html[:3000]}"
    return found.group(1)


# --- The stripe library reaching localstripe through a proxy that fails on purpose ----------

#: The portal's Stripe timeout, in seconds, in the fault tests: an answer held back costs one second.
FAULT_TEST_TIMEOUT = 1


@pytest.fixture
def fault_proxy(stripe_server):
    """A `FaultProxy` (tests/payments/fault_proxy.py) in front of this test's emptied localstripe."""
    from tests.payments.fault_proxy import FaultProxy

    with FaultProxy.start(stripe_server.api_base) as proxy:
        yield proxy


def stripe_config_through(proxy, server: LocalStripe) -> dict:
    """App config for paying through `server` by way of `proxy`, giving up on an answer after a second."""
    return {**stripe_config(server), "ACQUIT_STRIPE_API_BASE": proxy.url, "ACQUIT_STRIPE_TIMEOUT": FAULT_TEST_TIMEOUT}


# --- The in-memory gateway, for fast tests of the services' rules ------------------------
# Modules that prove the same against localstripe define `gateway` for themselves.


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def context(gateway) -> PaymentContext:
    """The payment services' context on the in-memory gateway."""
    return PaymentContext(gateway=gateway, supplier_name="Supplier", base_url="http://portal.test")


def save_fake_card(db, context: PaymentContext, gateway: FakeGateway, company: Company, payer: User,
                   number: str = fake_gateway.SUCCEEDS) -> SavedCard:
    """Save a test card for `company` through the services, as Stripe.js would complete it; committed."""
    setup = start_saving_card(db, context, company=company, email=payer.email)
    gateway.complete_setup(setup.setup_id, number)
    card = finish_saving_card(db, context, Actor.user(payer), company=company, setup_id=setup.setup_id)
    db.commit()
    return card
