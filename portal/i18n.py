"""Languages and locale-aware formatting for pages: French first, English second."""

from urllib.parse import urlencode

from babel.numbers import get_currency_symbol
from flask import Flask, current_app, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale, get_translations, lazy_pgettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context

from portal.billing.money import minor_unit_digits, to_decimal
from portal.billing.status import InvoiceStatus
from portal.formats import formats_for, locale_with_region
from portal.models import (
    CARD_CHANNELS,
    AutopayAttemptStatus,
    DisputeReason,
    DisputeStatus,
    OfflineMethod,
    PaymentAttention,
    PaymentDisplayStatus,
    PaymentStatus,
    RefundStatus,
    Role,
)

SUPPORTED_LOCALES = ("fr", "en")
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

LOGIN_REQUIRED_MESSAGE = _l("Please sign in to see this page.")

# A status describes the invoice, so French agrees it with "facture" ("Payée"), while the
# same English word as a totals label ("Paid: −50 €") is translated apart from it.
STATUS_LABELS = {
    InvoiceStatus.DRAFT: lazy_pgettext("invoice status", "Draft"),
    InvoiceStatus.OPEN: lazy_pgettext("invoice status", "Open"),
    InvoiceStatus.PARTIALLY_PAID: lazy_pgettext("invoice status", "Partially paid"),
    InvoiceStatus.CREDITED: lazy_pgettext("invoice status", "Reduced by a credit note"),
    InvoiceStatus.PAID: lazy_pgettext("invoice status", "Paid"),
    InvoiceStatus.OVERDUE: lazy_pgettext("invoice status", "Overdue"),
    InvoiceStatus.VOID: lazy_pgettext("invoice status", "Void"),
    InvoiceStatus.DISPUTED: lazy_pgettext("invoice status", "Disputed"),
}

AUDIT_ACTION_LABELS = {
    "invoice.created": _l("Invoice created"),
    "invoice.issued": _l("Invoice issued"),
    "invoice.voided": _l("Invoice voided"),
    "invoice.fields_filled": _l("Company's own fields filled in"),
    "credit_note.applied": _l("Credit note applied"),
    "payment.allocated": _l("Payment received"),
    "payment.failed": _l("Payment attempt failed"),
    "payment.attention_cleared": _l("Payment checked by our collections team"),
    "refund.outcome_unknown": _l("Refund: waiting for the card processor's answer"),
    "guest.locked": _l("Payment link paused after declined cards"),
    "invoice.updated": _l("Invoice updated"),
    "refund.succeeded": _l("Refunded to the customer"),
    "payment.cancelled": _l("Bank transfer or cheque cancelled: recorded by mistake"),
    "refund.failed": _l("Refund failed"),
    "dispute.raised": _l("Dispute raised"),
    "dispute.message": _l("Message on the dispute"),
    "dispute.information_requested": _l("More information requested on the dispute"),
    "dispute.answered": _l("Information sent for the dispute"),
    "dispute.credited": _l("Dispute accepted with a credit note"),
    "dispute.rejected": _l("Dispute rejected"),
    "dispute.withdrawn": _l("Dispute withdrawn"),
    "dispute.closed_invoice_voided": _l("Dispute closed: the invoice was cancelled"),
    "autopay.enrolled": _l("Autopay turned on"),
    "autopay.replaced": _l("Autopay terms replaced"),
    "autopay.cancelled": _l("Autopay stopped"),
    "autopay.paused": _l("Autopay paused"),
    "autopay.approved": _l("Approved for autopay above the maximum"),
    "autopay.notice_sent": _l("Autopay charge announced by e-mail"),
    "autopay.charged": _l("Charged by autopay"),
    "autopay.declined": _l("Autopay charge declined"),
    "autopay.needs_customer": _l("Autopay: the bank asked for the cardholder"),
    "autopay.skipped": _l("Not charged by autopay"),
    "reminder.notice_sent": _l("Due date notice e-mailed"),
    "reminder.sent": _l("Payment reminder e-mailed"),
    "invoice.sent": _l("Invoice e-mailed with a PAY NOW link"),
    "invoice.pay_links_revoked": _l("PAY NOW links revoked"),
    "payment.started": _l("Card payment started"),
    "payment.approval_requested": _l("Payment prepared, waiting for approval"),
    "payment.approved": _l("Payment approved"),
    "payment.approval_not_charged": _l("Payment approved but not charged"),
    "payment.approval_rejected": _l("Payment rejected by the approver"),
    "payment.approval_withdrawn": _l("Payment withdrawn before approval"),
    "payment.approval_expired": _l("Payment not approved in time"),
    "approval_rule.set": _l("Approval rule set"),
    "approval_rule.removed": _l("Approval rule removed"),
    "payment.succeeded": _l("Payment succeeded"),
    "payment.outcome_unknown": _l("Payment outcome being checked with the card processor"),
    "payment.needs_attention": _l("Payment set aside for the collections team"),
    "payment.amount_mismatch": _l("The card processor took another amount than asked"),
    "refund.started": _l("Refund asked for"),
}

# The e-mails say the same in portal/mail/templates/_dispute_reason.txt.
DISPUTE_REASON_LABELS = {
    DisputeReason.NOT_RECEIVED: _l("Goods or service not received"),
    DisputeReason.DAMAGED: _l("Damaged or defective goods"),
    DisputeReason.WRONG_PRICE: _l("Wrong price"),
    DisputeReason.WRONG_QUANTITY: _l("Wrong quantity"),
    DisputeReason.DUPLICATE: _l("Invoiced twice"),
    DisputeReason.PO_MISMATCH: _l("Does not match the purchase order"),
    DisputeReason.OTHER: _l("Other reason"),
}

DISPUTE_STATUS_LABELS = {
    DisputeStatus.OPEN: lazy_pgettext("dispute status", "Under review"),
    DisputeStatus.AWAITING_CUSTOMER: lazy_pgettext("dispute status", "Waiting for the customer"),
    DisputeStatus.RESOLVED_CREDITED: lazy_pgettext("dispute status", "Credited"),
    DisputeStatus.REJECTED: lazy_pgettext("dispute status", "Rejected"),
    DisputeStatus.WITHDRAWN: lazy_pgettext("dispute status", "Withdrawn"),
    DisputeStatus.INVOICE_VOIDED: lazy_pgettext("dispute status", "Closed: invoice cancelled"),
}

# Why autopay did not charge an invoice, or paused: AutopayAttempt.reason and AutopayEnrolment.paused_reason.
AUTOPAY_REASON_LABELS = {
    "disputed": _l("The invoice is disputed"),
    "above_maximum": _l("Above the maximum: waiting for the customer's approval"),
    "card_declined": _l("The card was declined"),
    "insufficient_funds": _l("Insufficient funds on the card"),
    "incorrect_cvc": _l("The card's security code was refused"),
    "processing_error": _l("The card processor could not process the charge"),
    "expired_card": _l("The card has expired"),
    "card_removed": _l("The card was removed"),
    "resource_missing": _l("The card processor no longer knows the card"),
    "authentication_required": _l("The bank asked for the cardholder: a PAY NOW link was e-mailed"),
    "never_reached": _l("The charge never reached the card processor"),
    "canceled": _l("The charge was cancelled"),
    "payment_in_progress": _l("Another payment of the invoice was under way"),
    "payment_not_allowed": _l("Nothing to charge: the invoice was paid, voided or disputed meanwhile"),
}

AUTOPAY_ATTEMPT_STATUS_LABELS = {
    AutopayAttemptStatus.DECLINED: lazy_pgettext("autopay attempt", "Declined"),
    AutopayAttemptStatus.NEEDS_CUSTOMER: lazy_pgettext("autopay attempt", "Needs the cardholder"),
    AutopayAttemptStatus.SKIPPED: lazy_pgettext("autopay attempt", "Not charged"),
    AutopayAttemptStatus.SUCCEEDED: lazy_pgettext("autopay attempt", "Charged"),
    AutopayAttemptStatus.PROCESSING: lazy_pgettext("autopay attempt", "Being confirmed"),
    AutopayAttemptStatus.CLAIMED: lazy_pgettext("autopay attempt", "Being charged"),
}

PAYMENT_STATUS_LABELS = {
    PaymentStatus.PENDING: lazy_pgettext("payment status", "Pending"),
    PaymentStatus.PROCESSING: lazy_pgettext("payment status", "Being confirmed"),
    PaymentStatus.REQUIRES_ACTION: lazy_pgettext("payment status", "Waiting for your bank"),
    PaymentStatus.SUCCEEDED: lazy_pgettext("payment status", "Received"),
    PaymentStatus.FAILED: lazy_pgettext("payment status", "Failed"),
    PaymentStatus.CANCELLED: lazy_pgettext("payment status", "Cancelled"),
    PaymentDisplayStatus.REFUNDED: lazy_pgettext("payment status", "Refunded"),
    PaymentDisplayStatus.PARTLY_REFUNDED: lazy_pgettext("payment status", "Partly refunded"),
}

OFFLINE_METHOD_LABELS = {
    OfflineMethod.BANK_TRANSFER: _l("Bank transfer"),
    OfflineMethod.CHEQUE: _l("Cheque"),
}

ROLE_LABELS = {
    Role.ADMIN: lazy_pgettext("user role", "Admin"),
    Role.PAYER: lazy_pgettext("user role", "Payer"),
    Role.VIEWER: lazy_pgettext("user role", "Viewer"),
}

# How a payment came in, for the collections team's payments list (portal.collections.payments.PaymentMethod).
PAYMENT_METHOD_LABELS = {
    "card": _l("Card, any way"),
    "portal": _l("Card, on the portal"),
    "guest": _l("Card, by a PAY NOW link"),
    "autopay": _l("Card, by autopay"),
    "offline": _l("Recorded by staff (transfer, cheque)"),
}

REFUND_STATUS_LABELS = {
    RefundStatus.PENDING: lazy_pgettext("refund status", "Being confirmed"),
    RefundStatus.SUCCEEDED: lazy_pgettext("refund status", "Refunded"),
    RefundStatus.FAILED: lazy_pgettext("refund status", "Failed"),
}

PAYMENT_ATTENTION_LABELS = {
    PaymentAttention.LATE_SUCCESS: _l("Reported failed to the payer, then confirmed by the card processor"),
    PaymentAttention.AMOUNT_MISMATCH: _l("The card processor took another amount or currency than asked"),
    PaymentAttention.OVERPAID: _l("The invoices no longer owed all of it"),
    PaymentAttention.UNEXPECTED_CHARGE: _l("The card processor reports a second charge for this payment"),
    PaymentAttention.LATE_REFUND: _l("A refund recorded as not made was made after all"),
}


def autopay_reason(code: str | None, fallback: str | None = None) -> str:
    """Why autopay did not charge, in the page's language; `fallback` (the card processor's words) for a code
    this list does not know."""
    if code in AUTOPAY_REASON_LABELS:
        return str(AUTOPAY_REASON_LABELS[code])
    return fallback or code or ""


def payment_method(payment) -> str:
    """How a payment was made, in the page's language for a transfer or cheque ("Visa •••• 4242" as stored for a card)."""
    if payment.offline_method in OFFLINE_METHOD_LABELS:
        return str(OFFLINE_METHOD_LABELS[payment.offline_method])
    return payment.method_summary


def select_locale() -> str:
    """The language chosen on the page, else the user's, else their company's, else the browser's;
    read in the formats of the company's region ("en_GB": 15 Nov 2026, 14:05) when it has one."""
    company = current_user.company if current_user and current_user.is_authenticated else None
    return locale_with_region(_select_language(company), company.region if company is not None else None)


def _select_language(company) -> str:
    chosen = session.get("lang")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    if current_user and current_user.is_authenticated:
        if current_user.locale in SUPPORTED_LOCALES:
            return current_user.locale
        if company is not None and company.locale in SUPPORTED_LOCALES:
            return company.locale
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or SUPPORTED_LOCALES[0]


def money(amount: int | None, currency: str) -> str:
    """Minor units formatted for the page's locale: 123456 EUR is "1 234,56 €" in French."""
    return formats_for(str(get_locale())).money(amount, currency)


def status_labels() -> dict[InvoiceStatus, str]:
    """Every invoice status's label in the page's language, for a page that shows many."""
    return {status: str(label) for status, label in STATUS_LABELS.items()}


def typed_amount(amount: int | None, currency: str) -> str:
    """Minor units as a person types them on this page, without the currency: 123456 EUR is
    "1 234,56" in French and "1,234.56" in English; 500 JPY is "500"."""
    if amount is None:
        return ""
    return format_decimal(to_decimal(amount, currency), format=_decimal_pattern(currency, "#,##0"))


def amount_example(currency: str) -> str:
    """An amount to show as an example of what to type in `currency`: "1234,56" in French, "1234" in yen."""
    digits = minor_unit_digits(currency)
    return format_decimal(to_decimal(int("1234" + "56789"[:digits]), currency), format=_decimal_pattern(currency, "0"))


def this_page_in(language: str) -> str:
    """This page's address, its query kept (the pay page's invoices, the list's filters), in `language`."""
    if len(request.query_string) > current_app.config["ACQUIT_MAX_QUERY_STRING_BYTES"]:
        # The page refusing an oversized address must not write it back out.
        return f"{request.path}?{urlencode([('lang', language)])}"
    query = [(name, value) for name, value in request.args.items(multi=True) if name != "lang"]
    return f"{request.path}?{urlencode([*query, ('lang', language)])}"


def currency_symbol(currency: str) -> str:
    """How the page's language writes `currency` next to an amount: "€", "¥" in English, "JPY" in French."""
    return get_currency_symbol(currency, get_locale())


def _decimal_pattern(currency: str, integer_pattern: str) -> str:
    digits = minor_unit_digits(currency)
    return integer_pattern + ("." + "0" * digits if digits else "")


def _render_translations(context):
    """The catalogue of the page's locale, looked up once per rendered template (a context processor puts it
    in the template's context) rather than at each of a page's tens of `_()`; a macro imported without the
    context looks it up itself."""
    translations = context.get(_TRANSLATIONS)
    return translations if translations is not None else get_translations()


_TRANSLATIONS = "_page_translations"


def _install_template_gettext(app: Flask) -> None:
    """Flask-Babel's template `_`, `ngettext`, `pgettext` and `npgettext`, each reading the catalogue once per render."""
    app.context_processor(lambda: {_TRANSLATIONS: get_translations()})
    app.jinja_env.install_gettext_callables(
        gettext=pass_context(lambda context, string: _render_translations(context).ugettext(string)),
        ngettext=pass_context(lambda context, singular, plural, n: _render_translations(context).ungettext(
            singular, plural, n)),
        newstyle=True,
        pgettext=pass_context(lambda context, msgctxt, string: _render_translations(context).upgettext(
            msgctxt, string)),
        npgettext=pass_context(lambda context, msgctxt, singular, plural, n: _render_translations(context).unpgettext(
            msgctxt, singular, plural, n)),
    )


def register_template_helpers(app: Flask) -> None:
    _install_template_gettext(app)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["typed_amount"] = typed_amount
    app.jinja_env.filters["currency_symbol"] = currency_symbol
    app.jinja_env.filters["format_decimal"] = format_decimal
    app.jinja_env.filters["short_date"] = lambda value: formats_for(str(get_locale())).short_date(value)
    app.jinja_env.filters["long_date"] = lambda value: format_date(value, format="long") if value else ""
    app.jinja_env.filters["timestamp"] = lambda value: format_datetime(value, format="medium") if value else ""
    app.jinja_env.filters["status_label"] = lambda status: STATUS_LABELS.get(status, status)
    app.jinja_env.filters["payment_status_label"] = lambda status: PAYMENT_STATUS_LABELS.get(status, status)
    app.jinja_env.filters["payment_method"] = payment_method
    app.jinja_env.filters["offline_method_label"] = lambda method: OFFLINE_METHOD_LABELS.get(method, method)
    app.jinja_env.filters["refund_status_label"] = lambda status: REFUND_STATUS_LABELS.get(status, status)
    app.jinja_env.filters["attention_label"] = lambda reason: PAYMENT_ATTENTION_LABELS.get(reason, reason)
    app.jinja_env.filters["audit_label"] = lambda action: AUDIT_ACTION_LABELS.get(action, action)
    app.jinja_env.filters["dispute_reason_label"] = lambda reason: DISPUTE_REASON_LABELS.get(reason, reason)
    app.jinja_env.filters["dispute_status_label"] = lambda status: DISPUTE_STATUS_LABELS.get(status, status)
    app.jinja_env.filters["autopay_attempt_label"] = lambda status: AUTOPAY_ATTEMPT_STATUS_LABELS.get(status, status)
    app.jinja_env.filters["autopay_reason"] = autopay_reason
    app.jinja_env.filters["role_label"] = lambda role: ROLE_LABELS.get(role, role or "")
    app.jinja_env.filters["payment_method_label"] = lambda method: PAYMENT_METHOD_LABELS.get(method, method)
    # "15 Dec" / "15 déc.": a date close enough that its year goes without saying.
    app.jinja_env.filters["day_and_month"] = lambda value: formats_for(str(get_locale())).day_and_month(value)
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["CARD_CHANNELS"] = [str(channel) for channel in CARD_CHANNELS]
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["amount_example"] = amount_example
    # "en-GB" for <html lang>; "en" to compare with the language switcher's codes.
    app.jinja_env.globals["page_language_tag"] = lambda: str(get_locale()).replace("_", "-")
    app.jinja_env.globals["page_language"] = lambda: get_locale().language
    app.jinja_env.globals["this_page_in"] = this_page_in
