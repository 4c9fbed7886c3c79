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

# Why a payment was refused before anything was charged, for the codes a payment prepared earlier
# (approved later by a second clerk) can meet: shown on pages through portal/errors.py and in
# e-mails through portal/mail/compose.py. `%(number)s` is an invoice number, `%(amount)s` a sum.
REFUSAL_REASONS = {
    "no_invoice_chosen": message_id("Choose at least one invoice to pay."),
    "part_payment_of_several": message_id("A part payment can only be made on one invoice at a time."),
    "invoice_void_nothing_to_pay": message_id("Invoice %(number)s is void: there is nothing to pay."),
    "invoice_already_paid": message_id("Invoice %(number)s is already paid."),
    "invoice_wholly_disputed": message_id(
        "All that is due on invoice %(number)s is disputed: it can be paid once the dispute is resolved."),
    "mixed_currencies": message_id("Invoices in different currencies must be paid separately."),
    "amount_not_positive": message_id("The amount must be greater than zero."),
    "amount_above_payable": message_id("That is more than the %(amount)s still due on invoice %(number)s."),
    "amount_above_undisputed": message_id(
        "That is more than the %(amount)s that can be paid on invoice %(number)s: the rest is disputed."),
    "amounts_changed": message_id("What is due on these invoices has just changed. Check it and try again."),
    "payment_in_progress": message_id(
        "A card payment of this invoice is already under way. Wait for it to finish, then check what is still due."),
    "no_card": message_id("Choose one of your saved cards, or add one."),
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
