from flask import Blueprint

blueprint = Blueprint("invoices", __name__, url_prefix="/invoices")

from portal.blueprints.invoices import documents, views  # noqa: E402,F401  (routes register on import)
