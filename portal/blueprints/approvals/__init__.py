from flask import Blueprint
from flask_babel import lazy_gettext as _l, lazy_pgettext

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

#: What an `ApprovalError` says on a page, by its code, and the status it answers with. 403 is the
#: permission matrix's answer (portal.accounts.permissions); what a role may do but the company's
#: rule or the payment's state refuses is a 409.
REFUSALS = {
    "not_found": (_l("We could not find that page."), 404),
    "not_allowed": (_l("Your role does not allow this."), 403),
    "not_approver": (_l("Only your company's admins (or its payers, if the approval rule allows it) approve "
                        "payments."), 409),
    "not_preparer": (_l("Only the person who prepared a payment can withdraw it."), 409),
    "own_payment": (_l("You prepared this payment: another person must approve it."), 409),
    "decided": (_l("This payment is no longer waiting for approval."), 409),
    "invalid_threshold": (_l("The threshold must be greater than zero."), 400),
    "already_awaiting": (_l("A payment of one of these invoices already waits for approval."), 409),
    "no_approver": (_l("This payment needs a second person's approval, and nobody else in your company may give "
                       "it. Ask an admin to invite a colleague or change the approval rule."), 409),
}


def refusal(error) -> tuple[str, int]:
    message, status = REFUSALS.get(error.code, (_l("That action is not available here."), 409))
    return str(message), status


from portal.blueprints.approvals import views  # noqa: E402,F401  (routes register on import)
