"""The payment gateway on Stripe, through `stripe.StripeClient` (test mode, or localstripe).

The flow used works on real Stripe and on localstripe alike (see
docs/payments-localstripe.md): cards are saved with a SetupIntent confirmed by Stripe.js,
charges are PaymentIntents created and confirmed server-side in one call, and a charge
that needs 3-D Secure is finished on the page with `confirmCardPayment`.
"""

from datetime import datetime, timedelta
from typing import Any, cast

import stripe
from stripe.params import PaymentIntentCreateParams

from portal.json_input import loads_bounded
from portal.payments.errors import InvalidWebhook, OutcomeUnknown, PaymentDeclined, PaymentError, ProviderUnavailable
from portal.payments.gateway import (
    CardDetails,
    CardSetup,
    Charge,
    ChargeStatus,
    RefundResult,
    RefundState,
    WebhookEvent,
)

_STATUSES = {
    "succeeded": ChargeStatus.SUCCEEDED,
    "requires_action": ChargeStatus.REQUIRES_ACTION,
    "requires_confirmation": ChargeStatus.REQUIRES_ACTION,
    "processing": ChargeStatus.PROCESSING,
    "requires_capture": ChargeStatus.PROCESSING,
    "requires_payment_method": ChargeStatus.FAILED,
    "canceled": ChargeStatus.FAILED,
}
_REFUND_STATES = {
    "succeeded": RefundState.SUCCEEDED,
    "pending": RefundState.PENDING,
    "requires_action": RefundState.PENDING,
    "failed": RefundState.FAILED,
    "canceled": RefundState.FAILED,
}
# How much earlier than our payment row the provider may stamp its charge: two clocks.
PROVIDER_CLOCK_SKEW = timedelta(minutes=10)
DECLINED_MESSAGE = "Your card was declined."
# Stripe's error and decline codes folded into the few our pages explain in their own words
# (portal/errors.py): a payer never reads Stripe's English. Anything else is a plain decline.
_DECLINE_CODES = {
    "insufficient_funds": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "incorrect_number": "incorrect_number",
    "invalid_number": "incorrect_number",
    "invalid_expiry_month": "incorrect_expiry",
    "invalid_expiry_year": "incorrect_expiry",
    "processing_error": "processing_error",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_failed",
    "lost_card": "card_declined",
    "stolen_card": "card_declined",
}
UNKNOWN_OUTCOME_MESSAGE = "The payment service did not answer in time. We are checking with it what happened."
PROVIDER_UNAVAILABLE_MESSAGE = "The payment service does not answer. Nothing was charged: try again in a few minutes."


class StripeGateway:
    def __init__(self, *, secret_key: str, publishable_key: str, webhook_secret: str,
                 api_base: str | None = None, js_url: str = "https://js.stripe.com/v3/", timeout: float = 30.0):
        # No automatic retries: a retried POST whose first answer was lost could charge twice
        # where idempotency keys are not honoured (localstripe); our own rows make retries safe.
        self._client = stripe.StripeClient(secret_key, base_addresses={"api": api_base} if api_base else {},
                                           max_network_retries=0,
                                           http_client=stripe.RequestsClient(timeout=timeout))
        self._webhook_secret = webhook_secret
        self.publishable_key = publishable_key
        self.js_url = js_url

    def create_customer(self, *, name: str, email: str | None, company_ref: str) -> str:
        params = {"name": name, "metadata": {"company_ref": company_ref}}
        if email:
            params["email"] = email
        return self._call(self._client.v1.customers.create, params).id

    def start_card_setup(self, *, customer_id: str | None) -> CardSetup:
        params: dict[str, Any] = {"payment_method_types": ["card"]}
        if customer_id:
            params |= {"customer": customer_id, "usage": "off_session"}
        else:
            params["usage"] = "on_session"
        setup = self._call_moving_no_money(self._client.v1.setup_intents.create, params)
        return CardSetup(setup_id=setup.id, client_secret=setup.client_secret)

    def finish_card_setup(self, *, customer_id: str | None, setup_id: str) -> CardDetails:
        setup = self._call_moving_no_money(self._client.v1.setup_intents.retrieve, setup_id,
                                           {"expand": ["payment_method"]})
        if setup.status != "succeeded" or setup.payment_method is None:
            raise PaymentError("The card was not saved. Check its details and try again.", code="setup_incomplete")
        if setup.customer not in (None, customer_id):
            raise PaymentError("This card setup belongs to someone else.", code="setup_mismatch")
        method = setup.payment_method
        if customer_id is not None:
            # Real Stripe attaches the card to the SetupIntent's customer; localstripe does not.
            if method.customer is None:
                method = self._call_moving_no_money(self._client.v1.payment_methods.attach, method.id,
                                                    {"customer": customer_id})
            elif method.customer != customer_id:
                raise PaymentError("This card belongs to someone else.", code="setup_mismatch")
        card = method.card
        return CardDetails(provider_id=method.id, brand=str(card.brand), last4=str(card.last4),
                           exp_month=int(card.exp_month), exp_year=int(card.exp_year))

    def detach_card(self, *, card_id: str) -> None:
        self._call(self._client.v1.payment_methods.detach, card_id)

    def charge(self, *, customer_id: str | None, card_id: str, amount: int, currency: str, idempotency_key: str,
               metadata: dict[str, str], off_session: bool) -> Charge:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": card_id,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": metadata,
            "expand": ["latest_charge"],
        }
        if customer_id:
            params["customer"] = customer_id
        if off_session:
            params["off_session"] = True
        try:
            # `payment_method_types` (what localstripe understands, and Stripe still accepts) is
            # missing from stripe-python's parameter types, which know only its newer name.
            intent = self._client.v1.payment_intents.create(cast(PaymentIntentCreateParams, params),
                                                            {"idempotency_key": idempotency_key})
        except stripe.CardError as error:
            if error.code == "authentication_required":
                # Real Stripe refuses an off-session charge that needs 3-D Secure outright.
                raise PaymentError("This card needs the cardholder to confirm the payment.",
                                   code="authentication_required") from error
            # "expired_card" and the like say what to do next; a bare decline is "card_declined".
            raise PaymentDeclined(DECLINED_MESSAGE, code=decline_code(error.code, _decline_code_of(error))) from error
        except stripe.StripeError as error:
            raise _payment_error(error) from error
        return _charge(intent)

    def retrieve_charge(self, reference: str) -> Charge:
        return _charge(self._call(self._client.v1.payment_intents.retrieve, reference, {"expand": ["latest_charge"]}))

    def cancel_charge(self, reference: str) -> Charge:
        return _charge(self._call(self._client.v1.payment_intents.cancel, reference))

    def find_charge(self, *, payment_key: str, made_after: datetime) -> Charge | None:
        # PaymentIntent search lags behind writes on Stripe and is missing on localstripe: page
        # the intents instead, only those created since our payment was (reconcile asks about
        # a lost payment for a week; an account holds far more intents than that).
        since = int((made_after - PROVIDER_CLOCK_SKEW).timestamp())
        try:
            intents = self._client.v1.payment_intents.list({"limit": 100, "created": {"gte": since}})
        except stripe.InvalidRequestError as error:
            if "created" not in str(error):
                raise _payment_error(error) from error
            # An emulator that cannot filter lists (localstripe): page them all.
            intents = self._call(self._client.v1.payment_intents.list, {"limit": 100})
        except stripe.StripeError as error:
            raise _payment_error(error) from error
        for intent in intents.auto_paging_iter():
            if _plain(intent.metadata).get("payment_key") == payment_key:
                return _charge(intent)
        return None

    def refund(self, *, reference: str, amount: int, idempotency_key: str, metadata: dict[str, str]) -> RefundResult:
        return _refund(self._call(
            self._client.v1.refunds.create,
            {"payment_intent": reference, "amount": amount, "metadata": metadata},
            {"idempotency_key": idempotency_key},
        ))

    def retrieve_refund(self, reference: str) -> RefundResult:
        return _refund(self._call(self._client.v1.refunds.retrieve, reference))

    def find_refund(self, *, charge_reference: str, refund_key: str) -> RefundResult | None:
        refunds = self._call(self._client.v1.refunds.list, {"payment_intent": charge_reference, "limit": 100})
        for refund in refunds.auto_paging_iter():
            if _plain(refund.metadata).get("refund_key") == refund_key:
                return _refund(refund)
        return None

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        if not signature:
            raise InvalidWebhook("missing Stripe-Signature header")
        _refuse_what_is_not_an_event(payload)
        try:
            event = self._client.construct_event(payload, signature, self._webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidWebhook(str(error)[:200]) from error
        charge = None
        if event.type.startswith("payment_intent."):
            try:
                charge = _charge(event.data.object)
            except (AttributeError, KeyError, TypeError, ValueError):
                raise InvalidWebhook("not a payment intent as Stripe sends it") from None
        return WebhookEvent(event_id=event.id, event_type=event.type, charge=charge)

    def _call_moving_no_money(self, method, *args):
        """`_call` for a card form's calls: unanswered, they leave nothing to check (`ProviderUnavailable`)."""
        try:
            return self._call(method, *args)
        except OutcomeUnknown as error:
            raise ProviderUnavailable(PROVIDER_UNAVAILABLE_MESSAGE) from error

    def _call(self, method, *args):
        try:
            return method(*args)
        except stripe.CardError as error:
            raise PaymentDeclined(DECLINED_MESSAGE, code=decline_code(error.code, _decline_code_of(error))) from error
        except stripe.StripeError as error:
            raise _payment_error(error) from error


def _refuse_what_is_not_an_event(payload: bytes) -> None:
    """Refuse a payload that is not shaped like a Stripe event: the stripe library would fail on
    it with whatever error its attribute access met (a signed "[]" or "{}" is valid JSON)."""
    try:
        event = loads_bounded(payload)
    except ValueError:  # not JSON, not UTF-8, or nested too deep
        raise InvalidWebhook("the payload is not JSON") from None
    if not isinstance(event, dict):
        raise InvalidWebhook("the payload is not an event: a JSON object")
    data = event.get("data")
    if not (isinstance(event.get("id"), str) and isinstance(event.get("type"), str)
            and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise InvalidWebhook("the payload is not an event: a JSON object with an id, a type and data.object")


def decline_code(code: str | None, decline: str | None = None) -> str:
    """Our code for a refusal Stripe gave as `code` (and, for card_declined, `decline`)."""
    return _DECLINE_CODES.get(decline or "") or _DECLINE_CODES.get(code or "") or "card_declined"


def _decline_code_of(error: "stripe.CardError") -> str | None:
    return getattr(error.error, "decline_code", None) if error.error is not None else None


def _payment_error(error: "stripe.StripeError") -> PaymentError:
    """Our error for one of Stripe's: unknown outcome unless Stripe clearly refused the request."""
    status = error.http_status
    if (isinstance(error, (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError, stripe.IdempotencyError))
            or status is None or status >= 500 or status == 429):
        # The request may have been carried out before the answer was lost or spoiled; an
        # idempotency conflict means an earlier request with this key was.
        return OutcomeUnknown(UNKNOWN_OUTCOME_MESSAGE, code="outcome_unknown")
    return PaymentError("The payment service refused the request. Please try again later.",
                        code=str(error.code or "provider_error"))


def _refund(refund) -> RefundResult:
    return RefundResult(reference=refund.id, amount=int(refund.amount),
                        state=_REFUND_STATES.get(refund.status, RefundState.PENDING),
                        metadata={str(key): str(value) for key, value in _plain(refund.metadata).items()})


def _charge(intent) -> Charge:
    status = _STATUSES.get(intent.status, ChargeStatus.PROCESSING)
    last_error = _plain(getattr(intent, "last_payment_error", None))
    metadata = _plain(getattr(intent, "metadata", None))
    return Charge(
        reference=intent.id,
        status=status,
        amount=int(intent.amount),
        currency=str(intent.currency).upper(),
        client_secret=intent.client_secret if status == ChargeStatus.REQUIRES_ACTION else None,
        failure_code=_failure_code(last_error) if status == ChargeStatus.FAILED else None,
        failure_message=last_error.get("message") if status == ChargeStatus.FAILED else None,
        metadata={str(key): str(value) for key, value in metadata.items()},
    )


def _failure_code(last_error: dict) -> str | None:
    """Our code for why a charge failed; None (then "canceled") when Stripe gives no error, as for a cancelled one."""
    if not last_error:
        return None
    return decline_code(last_error.get("code"), last_error.get("decline_code"))


def _plain(stripe_object) -> dict:
    """A StripeObject (no longer a dict in stripe 16) as a plain dict."""
    if stripe_object is None:
        return {}
    return stripe_object.to_dict() if hasattr(stripe_object, "to_dict") else dict(stripe_object)
