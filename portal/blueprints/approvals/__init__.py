from flask import Blueprint
from flask_babel import lazy_pgettext

from portal.errors import refusal_message, refusal_status
from portal.models import ApprovalStatus

blueprint = Blueprint("approvals", __name__, url_prefix="/approvals")

STATUS_LABELS = {
    ApprovalStatus.AWAITING: lazy_pgettext("approval status", "Waiting for approval"),
    ApprovalStatus.APPROVED: lazy_pgettext("approval status", "Approved"),
    ApprovalStatus.NOT_CHARGED: lazy_pgettext("approval status", "Approved, not charged"),
    ApprovalStatus.REJECTED: lazy_pgettext("approval status", "Rejected"),
    ApprovalStatus.WITHDRAWN: lazy_pgettext("approval status", "Withdrawn"),
    ApprovalStatus.EXPIRED: lazy_pgettext("approval status", "Expired"),
}

def refusal(error) -> tuple[str, int]:
    """What an `ApprovalError` says on a page, and the status it answers with (portal/errors.py)."""
    return refusal_message(error), refusal_status(error)


from portal.blueprints.approvals import views  # noqa: E402,F401  (routes register on import)
