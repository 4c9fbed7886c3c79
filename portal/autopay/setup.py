"""Building autopay's context from the app's configuration: the one place that reads its settings."""

from datetime import timedelta

from portal.autopay.run import AutopayContext
from portal.autopay.settings import AutopaySettings, parse_retry_days
from portal.guest.links import PayLinks
from portal.payments.context import PaymentContext


def autopay_settings(config) -> AutopaySettings:
    return AutopaySettings(retry_days=parse_retry_days(config["ACQUIT_AUTOPAY_RETRY_DAYS"]),
                           notice_days=config["ACQUIT_AUTOPAY_NOTICE_DAYS"])


def autopay_context(config, payments: PaymentContext) -> AutopayContext:
    links = PayLinks(config["SECRET_KEY"], config["ACQUIT_BASE_URL"],
                     valid_for=timedelta(days=config["ACQUIT_PAY_LINK_DAYS"]))
    return AutopayContext(payments=payments, settings=autopay_settings(config), links=links)
