"""An in-memory payment gateway for fast tests; every behaviour is also proven on localstripe.

Cards are test numbers as on Stripe: 4242424242424242 pays, 4000002760003184 needs 3-D
Secure, 4000000000000341 is declined when charged.
"""

import itertools
import json
from dataclasses import dataclass, field, replace
from datetime import datetime

from portal.payments.errors import InvalidWebhook, PaymentDeclined, PaymentError
from portal.payments.gateway import (
    CardDetails,
    CardSetup,
    Charge,
    ChargeStatus,
    RefundResult,
    RefundState,
    WebhookEvent,
)

SUCCEEDS = "4242424242424242"
NEEDS_AUTHENTICATION = "4000002760003184"
DECLINED_ON_CHARGE = "4000000000000341"


@dataclass
class FakeGateway:
    publishable_key: str = "pk_test_fake"
    js_url: str = "/static/fake-stripe.js"
    customers: dict[str, dict] = field(default_factory=dict)
    setups: dict[str, dict] = field(default_factory=dict)
    cards: dict[str, dict] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, RefundResult] = field(default_factory=dict)
    failures: list[Exception] = field(default_factory=list)
    failures_after: list[Exception] = field(default_factory=list)
    events: dict[str, WebhookEvent] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def fail_next_call(self, error: Exception) -> None:
        """Make the next gateway call raise `error` without doing anything (a provider outage, say)."""
        self.failures.append(error)

    def fail_after_next_call(self, error: Exception) -> None:
        """Make the next charge or refund happen, then raise `error`: the answer was lost on its way back."""
        self.failures_after.append(error)

    def complete_setup(self, setup_id: str, number: str = SUCCEEDS, exp_month: int = 12, exp_year: int = 2030) -> str:
        """What Stripe.js does in the browser: create the card and complete the setup."""
        card_id = self._new_id("pm")
        self.cards[card_id] = {"number": number, "customer": None, "exp_month": exp_month, "exp_year": exp_year}
        self.setups[setup_id]["card"] = card_id
        return card_id

    def authenticate(self, reference: str, *, success: bool = True) -> None:
        """What the 3-D Secure modal does: finish a charge that needs the cardholder."""
        charge = self.charges[reference]
        status = ChargeStatus.SUCCEEDED if success else ChargeStatus.FAILED
        self.charges[reference] = replace(charge, status=status, client_secret=None,
                                          failure_message=None if success else "Authentication failed.")

    def create_customer(self, *, name: str, email: str | None, company_ref: str) -> str:
        self._maybe_fail()
        customer_id = self._new_id("cus")
        self.customers[customer_id] = {"name": name, "email": email, "company_ref": company_ref}
        return customer_id

    def start_card_setup(self, *, customer_id: str | None) -> CardSetup:
        self._maybe_fail()
        setup_id = self._new_id("seti")
        self.setups[setup_id] = {"customer": customer_id, "card": None}
        return CardSetup(setup_id=setup_id, client_secret=f"{setup_id}_secret")

    def finish_card_setup(self, *, customer_id: str | None, setup_id: str) -> CardDetails:
        self._maybe_fail()
        setup = self.setups.get(setup_id)
        if setup is None or setup["card"] is None or setup["customer"] != customer_id:
            raise PaymentError("The card was not saved. Check its details and try again.", code="setup_incomplete")
        card = self.cards[setup["card"]]
        card["customer"] = customer_id
        return CardDetails(provider_id=setup["card"], brand="visa", last4=card["number"][-4:],
                           exp_month=card["exp_month"], exp_year=card["exp_year"])

    def detach_card(self, *, card_id: str) -> None:
        self._maybe_fail()
        self.cards[card_id]["customer"] = None

    def charge(self, *, customer_id: str | None, card_id: str, amount: int, currency: str, idempotency_key: str,
               metadata: dict[str, str], off_session: bool) -> Charge:
        self._maybe_fail()
        card = self.cards.get(card_id)
        if card is None or card["customer"] != customer_id:
            raise PaymentError("No such card.", code="resource_missing")
        reference = self._new_id("pi")
        if card["number"] == DECLINED_ON_CHARGE:
            raise PaymentDeclined("Your card was declined.")
        status = ChargeStatus.REQUIRES_ACTION if card["number"] == NEEDS_AUTHENTICATION else ChargeStatus.SUCCEEDED
        charge = Charge(reference=reference, status=status, amount=amount, currency=currency.upper(),
                        client_secret=f"{reference}_secret" if status == ChargeStatus.REQUIRES_ACTION else None,
                        metadata=dict(metadata))
        self.charges[reference] = charge
        self._maybe_fail_after()
        return charge

    def retrieve_charge(self, reference: str) -> Charge:
        self._maybe_fail()
        return self.charges[reference]

    def cancel_charge(self, reference: str) -> Charge:
        self._maybe_fail()
        if self.charges[reference].status == ChargeStatus.SUCCEEDED:
            # As Stripe does: a charge that has succeeded can only be refunded.
            raise PaymentError("This PaymentIntent's status is succeeded; it cannot be canceled.",
                               code="payment_intent_unexpected_state")
        self.charges[reference] = replace(self.charges[reference], status=ChargeStatus.FAILED, client_secret=None,
                                          failure_message="Canceled.")
        return self.charges[reference]

    def find_charge(self, *, payment_key: str, made_after: datetime) -> Charge | None:
        self._maybe_fail()
        return next((c for c in self.charges.values() if c.metadata.get("payment_key") == payment_key), None)

    def refund(self, *, reference: str, amount: int, idempotency_key: str, metadata: dict[str, str]) -> RefundResult:
        self._maybe_fail()
        result = RefundResult(reference=self._new_id("re"), amount=amount, state=RefundState.SUCCEEDED,
                              metadata={**metadata, "charge": reference})
        self.refunds[result.reference] = result
        self._maybe_fail_after()
        return result

    def retrieve_refund(self, reference: str) -> RefundResult:
        self._maybe_fail()
        return self.refunds[reference]

    def find_refund(self, *, charge_reference: str, refund_key: str) -> RefundResult | None:
        self._maybe_fail()
        return next((refund for refund in self.refunds.values() if refund.metadata.get("charge") == charge_reference
                     and refund.metadata.get("refund_key") == refund_key), None)

    def send_event(self, reference: str) -> tuple[bytes, str]:
        """What Stripe posts about the charge `reference` as it stands now: a new event's body and signature.

        Only a succeeded or failed charge has an event. Deliver the pair to `handle_webhook`
        as often as you like, as Stripe may.
        """
        charge = self.charges[reference]
        event_type = {ChargeStatus.SUCCEEDED: "payment_intent.succeeded",
                      ChargeStatus.FAILED: "payment_intent.payment_failed"}[charge.status]
        event_id = self._new_id("evt")
        self.events[event_id] = WebhookEvent(event_id=event_id, event_type=event_type, charge=charge)
        return json.dumps({"id": event_id, "type": event_type}).encode(), f"fake-signature-{event_id}"

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """An event `send_event` made, with its signature; anything else is refused."""
        try:
            event_id = json.loads(payload)["id"]
        except (ValueError, KeyError, TypeError):
            raise InvalidWebhook("not an event") from None
        if event_id not in self.events or signature != f"fake-signature-{event_id}":
            raise InvalidWebhook("no signature matching the payload")
        return self.events[event_id]

    def _maybe_fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def _maybe_fail_after(self) -> None:
        if self.failures_after:
            raise self.failures_after.pop(0)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"
