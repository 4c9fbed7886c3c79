from flask import Blueprint

blueprint = Blueprint("collections", __name__, url_prefix="/collections")

from portal.blueprints.collections import autopay_views, dispute_views, invoice_views, views  # noqa: E402,F401  (routes register on import)
