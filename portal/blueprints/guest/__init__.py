"""PAY NOW pages for guests: /pay/<token> for one invoice, /pay/invoices/<token> for several of one company.

The token is the only key; it reaches the invoices it names and nothing else."""

from datetime import timedelta

from flask import Blueprint, current_app

from portal.guest.links import PayLinks
from portal.guest.service import GuestLimits

blueprint = Blueprint("guest", __name__, url_prefix="/pay")


def pay_links() -> PayLinks:
    config = current_app.config
    return PayLinks(config["SECRET_KEY"], config["ACQUIT_BASE_URL"],
                    valid_for=timedelta(days=config["ACQUIT_PAY_LINK_DAYS"]))


def guest_limits() -> GuestLimits:
    return current_app.config.get("ACQUIT_GUEST_LIMITS") or GuestLimits()


from portal.blueprints.guest import several_views, views  # noqa: E402,F401  (routes register on import)
