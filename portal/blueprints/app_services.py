"""The app's services (see `portal.services`), for views: one accessor, no blueprint reaching into another."""

from flask import abort, current_app

from portal.payments.context import PaymentContext
from portal.services import Services, services_of


def services() -> Services:
    """The services `create_app` built for the app answering this request."""
    return services_of(current_app)


def payment_context() -> PaymentContext:
    """The payment context; a clear 503 page when card payments are not set up."""
    context = services().payments
    if context is None:
        abort(503)
    return context
