"""The app's services, built once from its settings when the app starts.

Views, commands and the worker hand these to the domain functions (payments, PAY NOW and
password links, sign-in throttling, disputes, autopay, reminders, mail) instead of each building its own from
the config on every call. No Flask here: `create_app` stores them on the app, and
`portal.blueprints.app_services.services()` (views) or `services_of(app)` (commands, the
worker) reads them back.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from portal.accounts.service import LoginPolicy, SetPasswordLinks
from portal.autopay.run import AutopayContext
from portal.autopay.settings import AutopaySettings, parse_retry_days
from portal.billing.supplier import SupplierIdentity, supplier_identity
from portal.disputes.attachments import AttachmentStore
from portal.disputes.service import DisputeContext
from portal.guest.links import PayLinks
from portal.guest.service import GuestLimits
from portal.mail.outbox import SmtpSettings
from portal.payments.context import PaymentContext
from portal.payments.gateway import PaymentGateway
from portal.reminders.run import ReminderContext

EXTENSION_KEY = "acquit.services"


@dataclass(frozen=True)
class Services:
    # The supplier's legal identity, checked at start: a portal that cannot issue a lawful invoice does not run.
    supplier: SupplierIdentity
    # None when no payment gateway is configured: card pages answer 503, the webhook 404, the worker skips autopay.
    payments: PaymentContext | None
    # Autopay's context, with card payments only; its mandate settings apply either way.
    autopay: AutopayContext | None
    autopay_settings: AutopaySettings
    pay_links: PayLinks
    set_password_links: SetPasswordLinks
    login_policy: LoginPolicy
    disputes: DisputeContext
    reminders: ReminderContext
    guest_limits: GuestLimits
    # None when no SMTP server is configured: e-mails wait in the outbox (and the demo shows them in the log).
    smtp: SmtpSettings | None


def build_services(config: Mapping[str, Any], gateway: PaymentGateway | None) -> Services:
    """Every service from `config`, card payments going through `gateway` (None: none configured)."""
    supplier = supplier_identity(config)
    payments = None if gateway is None else PaymentContext(
        gateway=gateway, supplier_name=config["ACQUIT_SUPPLIER_NAME"], base_url=config["ACQUIT_BASE_URL"],
        abandon_after=timedelta(minutes=config["ACQUIT_PAYMENT_ABANDON_MINUTES"]),
    )
    pay_links = PayLinks(config["SECRET_KEY"], config["ACQUIT_BASE_URL"],
                         valid_for=timedelta(days=config["ACQUIT_PAY_LINK_DAYS"]))
    autopay_settings = AutopaySettings(retry_days=parse_retry_days(config["ACQUIT_AUTOPAY_RETRY_DAYS"]),
                                       notice_days=config["ACQUIT_AUTOPAY_NOTICE_DAYS"])
    return Services(
        supplier=supplier,
        payments=payments,
        autopay=None if payments is None else AutopayContext(payments=payments, settings=autopay_settings,
                                                             links=pay_links),
        autopay_settings=autopay_settings,
        pay_links=pay_links,
        set_password_links=SetPasswordLinks(
            config["SECRET_KEY"], config["ACQUIT_BASE_URL"],
            reset_max_age=config["ACQUIT_PASSWORD_RESET_MAX_AGE"],
            invitation_max_age=config["ACQUIT_INVITATION_MAX_AGE"],
        ),
        login_policy=LoginPolicy(max_failures=config["ACQUIT_LOGIN_MAX_FAILURES"],
                                 window=timedelta(seconds=config["ACQUIT_LOGIN_WINDOW_SECONDS"])),
        disputes=DisputeContext(
            store=AttachmentStore(config["ACQUIT_ATTACHMENT_DIR"]),
            max_attachment_bytes=int(config["ACQUIT_ATTACHMENT_MAX_BYTES"]),
            collections_email=config.get("ACQUIT_COLLECTIONS_EMAIL"),
            staff_locale=config["BABEL_DEFAULT_LOCALE"],
            supplier_name=config["ACQUIT_SUPPLIER_NAME"],
            base_url=config["ACQUIT_BASE_URL"],
        ),
        reminders=ReminderContext(links=pay_links, supplier_name=config["ACQUIT_SUPPLIER_NAME"],
                                  base_url=config["ACQUIT_BASE_URL"]),
        # Not a setting of the environment: tests set tighter limits through the config.
        guest_limits=config.get("ACQUIT_GUEST_LIMITS") or GuestLimits(),
        smtp=_smtp_settings(config, supplier, pay_links),
    )


def _smtp_settings(config: Mapping[str, Any], supplier: SupplierIdentity, pay_links: PayLinks) -> SmtpSettings | None:
    if not config.get("ACQUIT_SMTP_HOST"):
        return None
    return SmtpSettings(
        host=config["ACQUIT_SMTP_HOST"],
        port=int(config["ACQUIT_SMTP_PORT"]),
        sender=config["ACQUIT_MAIL_SENDER"],
        username=config.get("ACQUIT_SMTP_USERNAME"),
        password=config.get("ACQUIT_SMTP_PASSWORD"),
        starttls=bool(config.get("ACQUIT_SMTP_STARTTLS")),
        timeout=float(config["ACQUIT_SMTP_TIMEOUT"]),
        supplier_name=config["ACQUIT_SUPPLIER_NAME"],
        supplier=supplier,
        pay_links=pay_links,
    )


class _HasExtensions(Protocol):
    extensions: dict


def services_of(app: _HasExtensions) -> Services:
    """The services `create_app` built for `app`."""
    return app.extensions[EXTENSION_KEY]


def install_services(app: _HasExtensions, services: Services) -> None:
    """Make `services` the app's: at start, and when the demo learns its address and its fake Stripe."""
    app.extensions[EXTENSION_KEY] = services
