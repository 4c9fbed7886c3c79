from flask import Blueprint, Response

from portal.blueprints.app_services import services
from portal.extensions import db, htmx
from portal.models import Payment, PaymentStatus
from portal.payments.provider_events import check_payment_if_due

blueprint = Blueprint("payments", __name__, url_prefix="/payments")


def checked_payment_poll(payment: Payment) -> Response | None:
    """Ask the provider about a payment whose outcome is being checked; for the page's own poll, the answer.

    The page polls with htmx while the payment is being checked: "nothing new" (204) until
    it has ended, then a reload of the whole page. A normal request gets None: render the page.
    """
    if context := services().payments:
        check_payment_if_due(db.session, context, payment)
    if not htmx or htmx.history_restore_request:
        return None
    if payment.status == PaymentStatus.PROCESSING:
        return Response(status=204)
    return Response(status=204, headers={"HX-Refresh": "true"})


from portal.blueprints.payments import views  # noqa: E402, F401  (routes register on import)
