"""Languages and locale-aware formatting for pages: French first, English second."""


from flask import Flask, request, session
from flask_babel import format_currency, format_date, format_datetime, format_decimal, get_locale, lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user

from portal.billing.money import to_decimal
from portal.billing.status import InvoiceStatus
from portal.models import PaymentStatus

SUPPORTED_LOCALES = ("fr", "en")
LANGUAGE_NAMES = {"fr": "Français", "en": "English"}

LOGIN_REQUIRED_MESSAGE = _l("Please sign in to see this page.")

# A status describes the invoice, so French agrees it with "facture" ("Payée"), while the
# same English word as a totals label ("Paid: −50 €") is translated apart from it.
STATUS_LABELS = {
    InvoiceStatus.DRAFT: lazy_pgettext("invoice status", "Draft"),
    InvoiceStatus.OPEN: lazy_pgettext("invoice status", "Open"),
    InvoiceStatus.PARTIALLY_PAID: lazy_pgettext("invoice status", "Partially paid"),
    InvoiceStatus.PAID: lazy_pgettext("invoice status", "Paid"),
    InvoiceStatus.OVERDUE: lazy_pgettext("invoice status", "Overdue"),
    InvoiceStatus.VOID: lazy_pgettext("invoice status", "Void"),
}

AUDIT_ACTION_LABELS = {
    "invoice.created": _l("Invoice created"),
    "invoice.issued": _l("Invoice issued"),
    "invoice.voided": _l("Invoice voided"),
    "credit_note.applied": _l("Credit note applied"),
    "payment.allocated": _l("Payment received"),
    "payment.failed": _l("Payment attempt failed"),
    "invoice.updated": _l("Invoice updated"),
    "refund.succeeded": _l("Refund"),
    "refund.failed": _l("Refund failed"),
}

PAYMENT_STATUS_LABELS = {
    PaymentStatus.PENDING: lazy_pgettext("payment status", "Pending"),
    PaymentStatus.PROCESSING: lazy_pgettext("payment status", "Being confirmed"),
    PaymentStatus.REQUIRES_ACTION: lazy_pgettext("payment status", "Waiting for your bank"),
    PaymentStatus.SUCCEEDED: lazy_pgettext("payment status", "Received"),
    PaymentStatus.FAILED: lazy_pgettext("payment status", "Failed"),
}


def select_locale() -> str:
    """The language chosen on the page, else the user's, else their company's, else the browser's."""
    chosen = session.get("lang")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    if current_user and current_user.is_authenticated:
        if current_user.locale in SUPPORTED_LOCALES:
            return current_user.locale
        if current_user.company is not None and current_user.company.locale in SUPPORTED_LOCALES:
            return current_user.company.locale
    return request.accept_languages.best_match(SUPPORTED_LOCALES) or SUPPORTED_LOCALES[0]


def money(amount: int | None, currency: str) -> str:
    """Minor units formatted for the page's locale: 123456 EUR is "1 234,56 €" in French."""
    if amount is None:
        return ""
    return format_currency(to_decimal(amount, currency), currency)


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["format_decimal"] = format_decimal
    app.jinja_env.filters["short_date"] = lambda value: format_date(value, format="medium") if value else ""
    app.jinja_env.filters["long_date"] = lambda value: format_date(value, format="long") if value else ""
    app.jinja_env.filters["timestamp"] = lambda value: format_datetime(value, format="medium") if value else ""
    app.jinja_env.filters["status_label"] = lambda status: STATUS_LABELS.get(status, status)
    app.jinja_env.filters["payment_status_label"] = lambda status: PAYMENT_STATUS_LABELS.get(status, status)
    app.jinja_env.filters["audit_label"] = lambda action: AUDIT_ACTION_LABELS.get(action, action)
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["get_locale"] = get_locale
