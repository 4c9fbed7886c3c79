from flask import Blueprint

blueprint = Blueprint("collections", __name__, url_prefix="/collections")

from portal.blueprints.collections import (  # noqa: E402,F401  (routes register on import)
    autopay_views,
    company_views,
    dispute_views,
    invoice_views,
    offline_views,
    reminder_views,
    staff_views,
    views,
)
