"""A user's own account, and a company admin's pages: users and roles, billing recipients."""

from flask import Blueprint

blueprint = Blueprint("account", __name__, url_prefix="/account")

from portal.blueprints.account import views  # noqa: E402,F401  (routes register on import)
