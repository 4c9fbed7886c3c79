from portal.domain_errors import DomainError


def message_id(text: str) -> str:
    """Marks `text` for the catalogue (a keyword in babel.cfg): it is translated where it is shown."""
    return text


# Why a payment failed (its `failure_code`) in our own words: the gateway folds the provider's
# error and decline codes into these, so nobody reads the provider's English. Pages show them
# through portal/errors.py, e-mails through portal/mail/compose.py, each in its reader's language.
FAILURE_REASONS = {
    "payment_error": message_id("The payment could not be made. Nothing was charged."),
    "card_declined": message_id("The card was declined. Nothing was charged: try another card."),
    "insufficient_funds": message_id("The card was declined for insufficient funds. Nothing was charged."),
    "expired_card": message_id("The card has expired. Nothing was charged: use another card."),
    "incorrect_cvc": message_id("The card's security code is wrong. Nothing was charged."),
    "incorrect_number": message_id("The card number is wrong. Nothing was charged."),
    "incorrect_expiry": message_id("The card's expiry date is wrong. Nothing was charged."),
    "processing_error": message_id(
        "The card processor could not process the card. Nothing was charged: try again in a moment."),
    "authentication_required": message_id(
        "Your bank asks you to confirm this payment. Nothing was charged: try again and confirm it."),
    "authentication_failed": message_id(
        "Your bank did not confirm the payment. Nothing was charged: try again, or use another card."),
    "canceled": message_id("The payment was cancelled. Nothing was charged."),
}


class PaymentError(DomainError):
    """A payment could not be made; `code` says why (see portal/domain_errors.py)."""

    code = "payment_error"


class PaymentDeclined(PaymentError):
    """The card issuer refused the charge."""

    code = "card_declined"


class OutcomeUnknown(PaymentError):
    """The provider may or may not have done it (server error, timeout, connection lost, rate limit).

    Never read as a failure: whatever the call was for stays in flight until the
    provider's own record says how it ended.
    """

    code = "outcome_unknown"


class ProviderUnavailable(OutcomeUnknown):
    """The provider did not answer a call that moves no money (preparing or reading a card form):
    whatever it did, nothing was charged, so the payer is told to try again, not to wait for a check."""

    code = "provider_unavailable"


class InvalidWebhook(PaymentError):
    """A webhook whose signature does not verify, is stale, or does not parse."""

    code = "invalid_webhook"


class PaymentInProgress(PaymentError):
    """Another payment of one of these invoices is under way."""

    code = "payment_in_progress"


class PaymentNotAllowed(PaymentError):
    """The request is refused: nothing due, more than due, wrong currency, not the payer's invoice..."""

    code = "payment_not_allowed"


class NoCard(PaymentError):
    """No usable saved card to charge."""

    code = "no_card"


class RefundNotAllowed(PaymentError):
    code = "refund_not_allowed"
