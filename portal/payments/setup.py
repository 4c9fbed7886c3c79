"""Choosing the payment gateway from configuration: the one place that decides which provider runs."""

from portal.config_errors import ConfigurationError
from portal.payments.gateway import PaymentGateway


class GatewayMisconfigured(ConfigurationError):
    """The configuration names a gateway without what it needs."""


def gateway_from_config(config) -> PaymentGateway | None:
    """The gateway `config` asks for, or None when card payments are not configured."""
    kind = config.get("ACQUIT_PAYMENT_GATEWAY")
    if not kind:
        return None
    if kind == "fake":
        from portal.payments.fake_gateway import FakeGateway

        return FakeGateway()
    if kind == "stripe":
        from portal.payments.stripe_gateway import StripeGateway

        missing = [name for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET")
                   if not config.get(name)]
        if missing:
            raise GatewayMisconfigured(f"card payments need {', '.join(missing)}")
        live = [name for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY") if is_live_key(config[name])]
        if live and not config.get("ACQUIT_ALLOW_LIVE_STRIPE_KEYS"):
            # A live key takes real money: never by accident (a copied production .env on a laptop, a demo).
            raise GatewayMisconfigured(f"live Stripe keys in {' and '.join(live)} would charge real cards; "
                                       "set ACQUIT_ALLOW_LIVE_STRIPE_KEYS=1 where that is meant")
        return StripeGateway(
            secret_key=config["STRIPE_SECRET_KEY"], publishable_key=config["STRIPE_PUBLISHABLE_KEY"],
            webhook_secret=config["STRIPE_WEBHOOK_SECRET"], api_base=config.get("ACQUIT_STRIPE_API_BASE"),
            js_url=config.get("ACQUIT_STRIPE_JS_URL") or "https://js.stripe.com/v3/",
            timeout=float(config.get("ACQUIT_STRIPE_TIMEOUT") or 30),
        )
    raise GatewayMisconfigured(f"unknown ACQUIT_PAYMENT_GATEWAY {kind!r}: use 'stripe'")


def is_live_key(key: str) -> bool:
    """Whether `key` is one of Stripe's live-mode keys (secret, restricted or publishable)."""
    return key.startswith(("sk_live_", "rk_live_", "pk_live_"))
