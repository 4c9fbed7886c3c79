from portal.domain_errors import DomainError


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
