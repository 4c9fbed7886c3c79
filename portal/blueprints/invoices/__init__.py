from flask import Blueprint

blueprint = Blueprint("invoices", __name__, url_prefix="/invoices")

from portal.blueprints.invoices import caching, documents, views  # noqa: E402,F401  (routes register on import)

# The list's rendered parts are kept in the app's page cache (in memory, or Redis as configured).
blueprint.record_once(lambda state: caching.install_page_cache(state.app))
