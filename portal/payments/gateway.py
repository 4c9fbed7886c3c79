"""What Acquit needs from a payment provider, in our own words.

`StripeGateway` implements it with the real Stripe library; `FakeGateway` in memory, for
fast tests. Nothing outside `portal/payments/` sees the provider's types or errors: the
gateway answers with these dataclasses and raises only `PaymentError` subclasses.

A call that moves money (`charge`, `refund`) has three outcomes: it answers (succeeded, or
where the charge stands), it raises `PaymentError` when the provider said no and did
nothing (`PaymentDeclined` for the card), or it raises `OutcomeUnknown` when the provider
may have done it (a server error, a timeout, a connection lost after sending). Only the
provider's own record, asked later (`retrieve_*`, `find_*`), settles an unknown outcome.
"""

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class ChargeStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    FAILED = "failed"


@dataclass(frozen=True)
class CardSetup:
    """A card being saved: the page finishes it in the browser with `client_secret`."""

    setup_id: str
    client_secret: str


@dataclass(frozen=True)
class CardDetails:
    provider_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charge:
    """Where a charge stands at the provider."""

    reference: str
    status: ChargeStatus
    amount: int
    currency: str
    client_secret: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    metadata: dict = field(default_factory=dict)


class RefundState(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class RefundResult:
    """Where a refund stands at the provider."""

    reference: str
    amount: int
    state: RefundState
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    event_type: str
    charge: Charge | None


class PaymentGateway(Protocol):
    publishable_key: str
    js_url: str

    def create_customer(self, *, name: str, email: str | None, company_ref: str) -> str:
        """A new customer record at the provider; returns its id."""

    def start_card_setup(self, *, customer_id: str | None) -> CardSetup:
        """Begin collecting a card (to save for `customer_id`, or for one guest payment); the browser completes it."""

    def finish_card_setup(self, *, customer_id: str | None, setup_id: str) -> CardDetails:
        """The card collected by the completed setup `setup_id`, attached to the customer if there is one."""

    def detach_card(self, *, card_id: str) -> None:
        """Forget a saved card at the provider."""

    def charge(self, *, customer_id: str | None, card_id: str, amount: int, currency: str, idempotency_key: str,
               metadata: dict[str, str], off_session: bool) -> Charge:
        """Create and confirm a charge, sending `idempotency_key` and `metadata` (which names our payment).

        Raises `PaymentDeclined` or `PaymentError` when nothing was charged, `OutcomeUnknown` when it may have been.
        """

    def retrieve_charge(self, reference: str) -> Charge:
        """Where the charge `reference` stands now."""

    def cancel_charge(self, reference: str) -> Charge:
        """Abandon a charge still waiting for the cardholder; it can no longer succeed."""

    def find_charge(self, *, payment_key: str, made_after: datetime) -> Charge | None:
        """The charge made for our payment whose idempotency key is `payment_key` (in its metadata), if any.

        `made_after` is when our payment was created: no charge for it can be older.
        """

    def refund(self, *, reference: str, amount: int, idempotency_key: str, metadata: dict[str, str]) -> RefundResult:
        """Give back `amount` of the charge `reference`; `PaymentError` if refused, `OutcomeUnknown` if it may be made."""

    def retrieve_refund(self, reference: str) -> RefundResult:
        """Where the refund `reference` stands now."""

    def find_refund(self, *, charge_reference: str, refund_key: str) -> RefundResult | None:
        """The refund of charge `charge_reference` made for our refund whose key is `refund_key`, if any."""

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Verify and read a webhook; raises `InvalidWebhook`."""
