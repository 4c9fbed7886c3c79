"""A clerk's statements of account: their own company's, any period, on screen and as a PDF."""

from flask import Blueprint

blueprint = Blueprint("statements", __name__, url_prefix="/statements")

from portal.blueprints.statements import views  # noqa: E402,F401  (routes register on import)
