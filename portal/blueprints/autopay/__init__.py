from flask import Blueprint, current_app
from flask_babel import get_locale

from portal import clock
from portal.autopay.enrolment import MandateContext
from portal.blueprints.app_services import services
from portal.payments.cards import card_summary

blueprint = Blueprint("autopay", __name__, url_prefix="/autopay")


@blueprint.context_processor
def _card_names():
    return {"card_summary": card_summary}


def mandate_context() -> MandateContext:
    """What the mandate shown on this page is written with: the supplier's name, the page's language, the settings."""
    return MandateContext(supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"], locale=str(get_locale()),
                          settings=services().autopay_settings, today=clock.today())


from portal.blueprints.autopay import views  # noqa: E402,F401  (routes register on import)
