"""PAY NOW pages for guests: /pay/<token> for one invoice, /pay/invoices/<token> for several of one company.

The token is the only key; it reaches the invoices it names and nothing else."""

from flask import Blueprint

blueprint = Blueprint("guest", __name__, url_prefix="/pay")

from portal.blueprints.guest import several_views, views  # noqa: E402,F401  (routes register on import)
