"""Every setting Acquit reads, from the environment, with its default, in one place."""

import os
import secrets
from dataclasses import dataclass, field

from portal.config_errors import ConfigurationError
from portal.disputes.attachments import MAX_FILES_PER_MESSAGE

# The supplier's legal identity beside ACQUIT_SUPPLIER_NAME, printed on invoices and in their
# Factur-X data; `portal.billing.supplier` checks it when the app starts (README lists each one).
SUPPLIER_IDENTITY_SETTINGS = (
    "ACQUIT_SUPPLIER_ADDRESS", "ACQUIT_SUPPLIER_POSTCODE", "ACQUIT_SUPPLIER_CITY", "ACQUIT_SUPPLIER_COUNTRY",
    "ACQUIT_SUPPLIER_SIREN", "ACQUIT_SUPPLIER_SIRET", "ACQUIT_SUPPLIER_VAT_NUMBER", "ACQUIT_SUPPLIER_LEGAL_FORM",
    "ACQUIT_SUPPLIER_SHARE_CAPITAL", "ACQUIT_SUPPLIER_REGISTRY", "ACQUIT_SUPPLIER_LATE_PENALTY_RATE",
    "ACQUIT_SUPPLIER_EARLY_PAYMENT_DISCOUNT", "ACQUIT_SUPPLIER_PAYMENT_TERMS", "ACQUIT_SUPPLIER_IBAN",
    "ACQUIT_SUPPLIER_BIC", "ACQUIT_SUPPLIER_BANK_NAME", "ACQUIT_SUPPLIER_EMAIL",
)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None


def env_bool(name: str, default: bool | None) -> bool | None:
    raw = _env(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    """Acquit's settings; `from_environment()` reads them, tests pass overrides."""

    database_url: str | None = None
    secret_key: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: int = 5
    # `acquit demo` turns it on: with no SMTP server, e-mails (and the links in them) are logged.
    demo: bool = False
    # "json" (one object per line, for journald or a log shipper) or "text"; `acquit demo` defaults to text.
    log_format: str = "json"
    trusted_proxies: int = 0
    mail_sender: str = "Acquit <no-reply@acquit.invalid>"
    supplier_name: str | None = None
    supplier_identity: dict = field(default_factory=dict)
    default_locale: str = "fr"
    # None: Secure exactly when the base URL is https (set it to say otherwise).
    session_cookie_secure: bool | None = None
    login_max_failures: int = 5
    login_window_seconds: int = 900
    # "Forgot password" answers after this long whatever the address, so timing tells nothing.
    password_reset_answer_seconds: float = 0.4
    password_reset_max_age_seconds: int = 3600
    invitation_max_age_seconds: int = 7 * 86400
    pay_link_days: int = 30
    guest_partial_payments: bool = False
    max_query_string_bytes: int = 4096
    # The invoice list's rendered parts: in each process (this many MiB) unless a Redis URL is set.
    page_cache_url: str | None = None
    page_cache_mib: int = 64
    collections_email: str | None = None
    attachment_dir: str | None = None
    attachment_max_bytes: int = 10 * 1024 * 1024
    payment_gateway: str | None = None
    stripe_secret_key: str | None = None
    allow_live_stripe_keys: bool = False
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_js_url: str = "https://js.stripe.com/v3/"
    stripe_timeout_seconds: int = 30
    payment_abandon_minutes: int = 15
    autopay_retry_days: str = "1,3,7"
    autopay_notice_days: int = 3
    worker_autopay_minutes: int = 15
    worker_reconcile_seconds: int = 60
    worker_outbox_seconds: int = 60
    worker_reminders_minutes: int = 60
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> "Settings":
        return cls(
            database_url=_env("ACQUIT_DATABASE_URL"),
            secret_key=_env("ACQUIT_SECRET_KEY"),
            base_url=_env("ACQUIT_BASE_URL", "http://127.0.0.1:5000"),
            smtp_host=_env("ACQUIT_SMTP_HOST"),
            smtp_port=_env_int("ACQUIT_SMTP_PORT", 25),
            smtp_username=_env("ACQUIT_SMTP_USERNAME"),
            smtp_password=_env("ACQUIT_SMTP_PASSWORD"),
            smtp_starttls=env_bool("ACQUIT_SMTP_STARTTLS", False),
            smtp_timeout_seconds=_env_int("ACQUIT_SMTP_TIMEOUT", 5),
            demo=env_bool("ACQUIT_DEMO", False),
            log_format=_env("ACQUIT_LOG_FORMAT", "json"),
            trusted_proxies=_env_int("ACQUIT_TRUSTED_PROXIES", 0),
            mail_sender=_env("ACQUIT_MAIL_SENDER", "Acquit <no-reply@acquit.invalid>"),
            supplier_name=_env("ACQUIT_SUPPLIER_NAME"),
            supplier_identity={name: _env(name) for name in SUPPLIER_IDENTITY_SETTINGS},
            default_locale=_env("ACQUIT_DEFAULT_LOCALE", "fr"),
            session_cookie_secure=env_bool("ACQUIT_SESSION_COOKIE_SECURE", None),
            collections_email=_env("ACQUIT_COLLECTIONS_EMAIL"),
            attachment_dir=_env("ACQUIT_ATTACHMENT_DIR"),
            attachment_max_bytes=_env_int("ACQUIT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
            invitation_max_age_seconds=_env_int("ACQUIT_INVITATION_MAX_AGE", 7 * 86400),
            pay_link_days=_env_int("ACQUIT_PAY_LINK_DAYS", 30),
            guest_partial_payments=env_bool("ACQUIT_GUEST_PARTIAL_PAYMENTS", False),
            payment_gateway=_env("ACQUIT_PAYMENT_GATEWAY"),
            stripe_secret_key=_env("STRIPE_SECRET_KEY"),
            allow_live_stripe_keys=env_bool("ACQUIT_ALLOW_LIVE_STRIPE_KEYS", False),
            stripe_publishable_key=_env("STRIPE_PUBLISHABLE_KEY"),
            stripe_webhook_secret=_env("STRIPE_WEBHOOK_SECRET"),
            stripe_api_base=_env("ACQUIT_STRIPE_API_BASE"),
            stripe_js_url=_env("ACQUIT_STRIPE_JS_URL", "https://js.stripe.com/v3/"),
            stripe_timeout_seconds=_env_int("ACQUIT_STRIPE_TIMEOUT", 30),
            payment_abandon_minutes=_env_int("ACQUIT_PAYMENT_ABANDON_MINUTES", 15),
            autopay_retry_days=_env("ACQUIT_AUTOPAY_RETRY_DAYS", "1,3,7"),
            autopay_notice_days=_env_int("ACQUIT_AUTOPAY_NOTICE_DAYS", 3),
            worker_autopay_minutes=_env_int("ACQUIT_WORKER_AUTOPAY_MINUTES", 15),
            worker_reconcile_seconds=_env_int("ACQUIT_WORKER_RECONCILE_SECONDS", 60),
            worker_outbox_seconds=_env_int("ACQUIT_WORKER_OUTBOX_SECONDS", 60),
            worker_reminders_minutes=_env_int("ACQUIT_WORKER_REMINDERS_MINUTES", 60),
            page_cache_url=_env("ACQUIT_PAGE_CACHE_URL"),
            page_cache_mib=_env_int("ACQUIT_PAGE_CACHE_MIB", 64),
        )

    def flask_config(self, instance_path: str) -> dict:
        """The Flask config mapping derived from these settings."""
        database_url = self.database_url or "sqlite:///" + os.path.join(instance_path, "acquit.sqlite3")
        secret_key = self.secret_key or _instance_secret_key(instance_path)
        cookies_secure = (self.session_cookie_secure if self.session_cookie_secure is not None
                          else self.base_url.lower().startswith("https://"))
        return {
            "SECRET_KEY": secret_key,
            "ACQUIT_DATABASE_URL": database_url,
            "ACQUIT_BASE_URL": self.base_url.rstrip("/"),
            "ACQUIT_SMTP_HOST": self.smtp_host,
            "ACQUIT_SMTP_PORT": self.smtp_port,
            "ACQUIT_SMTP_USERNAME": self.smtp_username,
            "ACQUIT_SMTP_PASSWORD": self.smtp_password,
            "ACQUIT_SMTP_STARTTLS": self.smtp_starttls,
            # Past this an SMTP server counts as down: a request gives up on sending (the worker
            # retries with backoff), so an outage never holds a request longer.
            "ACQUIT_SMTP_TIMEOUT": self.smtp_timeout_seconds,
            # Only in the demo are e-mails with no SMTP server to take them written to the log in
            # full: their reset, invitation and PAY NOW links are credentials.
            "ACQUIT_DEMO": self.demo,
            "ACQUIT_LOG_FORMAT": self.log_format,
            # Proxies in front of the portal whose X-Forwarded-For/-Proto/-Host are believed (portal/proxies.py).
            "ACQUIT_TRUSTED_PROXIES": self.trusted_proxies,
            "ACQUIT_MAIL_SENDER": self.mail_sender,
            "ACQUIT_SUPPLIER_NAME": self.supplier_name,
            **self.supplier_identity,
            "ACQUIT_LOGIN_MAX_FAILURES": self.login_max_failures,
            "ACQUIT_LOGIN_WINDOW_SECONDS": self.login_window_seconds,
            "ACQUIT_PASSWORD_RESET_ANSWER_SECONDS": self.password_reset_answer_seconds,
            "ACQUIT_PASSWORD_RESET_MAX_AGE": self.password_reset_max_age_seconds,
            "ACQUIT_INVITATION_MAX_AGE": self.invitation_max_age_seconds,
            "ACQUIT_PAY_LINK_DAYS": self.pay_link_days,
            "ACQUIT_GUEST_PARTIAL_PAYMENTS": self.guest_partial_payments,
            "ACQUIT_MAX_QUERY_STRING_BYTES": self.max_query_string_bytes,
            "ACQUIT_PAGE_CACHE_URL": self.page_cache_url,
            "ACQUIT_PAGE_CACHE_MIB": self.page_cache_mib,
            # Disputes: their e-mails to the collections team, and the evidence files, kept
            # outside the web root (the instance folder by default) and never served statically.
            "ACQUIT_COLLECTIONS_EMAIL": self.collections_email,
            "ACQUIT_ATTACHMENT_DIR": self.attachment_dir or os.path.join(instance_path, "attachments"),
            "ACQUIT_ATTACHMENT_MAX_BYTES": self.attachment_max_bytes,
            # "stripe" when a secret key is set; "fake" (in memory) only for tests.
            "ACQUIT_PAYMENT_GATEWAY": self.payment_gateway or ("stripe" if self.stripe_secret_key else None),
            "STRIPE_SECRET_KEY": self.stripe_secret_key,
            # Live keys (sk_live_, rk_live_, pk_live_) are refused at start-up unless this says they are meant.
            "ACQUIT_ALLOW_LIVE_STRIPE_KEYS": self.allow_live_stripe_keys,
            "STRIPE_PUBLISHABLE_KEY": self.stripe_publishable_key,
            "STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret,
            "ACQUIT_STRIPE_API_BASE": self.stripe_api_base,
            "ACQUIT_STRIPE_JS_URL": self.stripe_js_url,
            # Past this a call to Stripe counts as unanswered: its outcome is unknown, not failed.
            "ACQUIT_STRIPE_TIMEOUT": self.stripe_timeout_seconds,
            # A payment waiting for 3-D Secure this long is cancelled and its invoices freed.
            "ACQUIT_PAYMENT_ABANDON_MINUTES": self.payment_abandon_minutes,
            # Autopay: days after the first try that a declined card is tried again; days of notice before a charge.
            "ACQUIT_AUTOPAY_RETRY_DAYS": self.autopay_retry_days,
            "ACQUIT_AUTOPAY_NOTICE_DAYS": self.autopay_notice_days,
            # `acquit worker`: how often it runs each job. An autopay run acts only on what is
            # due, so a day's charges go in its first run of the day.
            "ACQUIT_WORKER_AUTOPAY_MINUTES": self.worker_autopay_minutes,
            "ACQUIT_WORKER_RECONCILE_SECONDS": self.worker_reconcile_seconds,
            "ACQUIT_WORKER_OUTBOX_SECONDS": self.worker_outbox_seconds,
            # Reminders and monthly statements each send a step or a month once, whenever they run.
            "ACQUIT_WORKER_REMINDERS_MINUTES": self.worker_reminders_minutes,
            "BABEL_DEFAULT_LOCALE": self.default_locale,
            "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            # Cookies go only over HTTPS when the portal is served over it; never to scripts.
            "SESSION_COOKIE_SECURE": cookies_secure,
            "REMEMBER_COOKIE_SECURE": cookies_secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            # Request bodies: 1 MiB (forms, API JSON, webhooks), except on the views that take
            # files, where the dispute forms promise this many files of the largest size.
            "MAX_CONTENT_LENGTH": 1024 * 1024,
            "ACQUIT_UPLOAD_REQUEST_MAX_BYTES": MAX_FILES_PER_MESSAGE * self.attachment_max_bytes + 1024 * 1024,
            "WTF_CSRF_TIME_LIMIT": None,
            **self.extra,
        }


def _instance_secret_key(instance_path: str) -> str:
    """A random key kept in the instance folder, for when ACQUIT_SECRET_KEY is not set.

    Sessions, reset links and PAY NOW links are signed with it, so it must outlive a restart
    and be the same for every process of the instance (the CLI that e-mails a link and the
    server that checks it); it is never a guessable default.
    """
    path = os.path.join(instance_path, "secret_key")
    try:
        with open(path, encoding="ascii") as existing:
            return existing.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(instance_path, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _instance_secret_key(instance_path)
    with os.fdopen(descriptor, "w", encoding="ascii") as created:
        created.write(key)
    return key
