from flask import Blueprint, abort, current_app

from portal.payments.context import PaymentContext

blueprint = Blueprint("payments", __name__, url_prefix="/payments")


def payment_context() -> PaymentContext:
    """The configured payment context; a clear 503 page when card payments are not set up."""
    context = current_app.extensions.get("acquit.payments")
    if context is None:
        abort(503)
    return context


from portal.blueprints.payments import views  # noqa: E402,F401  (routes register on import)
