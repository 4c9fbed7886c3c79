"""Who may do what in a customer company: the one permission matrix (role × action).

Every customer route declares the action it needs (`portal.blueprints.guards.permission_required`),
services check the same `may`, and the users page shows the matrix to admins.
No Flask and no models in here, so anything may import it.
"""

import enum
from collections.abc import Mapping


class Role(enum.StrEnum):
    """A clerk's role within their company."""

    ADMIN = "admin"
    PAYER = "payer"
    VIEWER = "viewer"


class Action(enum.StrEnum):
    """Something a clerk does in the portal, in the order the users page lists them."""

    VIEW_INVOICES = "view_invoices"  # the invoice list and pages, payments, disputes, autopay
    DOWNLOAD = "download"  # invoice PDFs and dispute attachments
    EXPORT = "export"  # CSV exports of invoices and payments, for reconciliation
    FILL_FIELDS = "fill_fields"  # the company's own fields on each invoice
    PAY = "pay"
    SAVE_CARDS = "save_cards"
    AUTOPAY = "autopay"
    DISPUTE = "dispute"
    # The company's approval rule may keep approving to admins; payers are allowed here so
    # that a rule letting "another payer" approve needs no second matrix.
    APPROVE_PAYMENTS = "approve_payments"
    SET_APPROVAL_RULE = "set_approval_rule"  # the amount above which payments wait for approval
    MANAGE_USERS = "manage_users"
    MANAGE_RECIPIENTS = "manage_recipients"
    MANAGE_FIELDS = "manage_fields"


_LOOKING = frozenset({Action.VIEW_INVOICES, Action.DOWNLOAD})
_PAYING = frozenset({Action.FILL_FIELDS, Action.PAY, Action.SAVE_CARDS, Action.AUTOPAY, Action.DISPUTE,
                     Action.APPROVE_PAYMENTS})

#: Admins set the company up and do everything; payers pay; viewers (the finance people)
#: look, download and export for reconciliation, and change nothing.
MATRIX: Mapping[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.PAYER: _LOOKING | _PAYING,
    Role.VIEWER: _LOOKING | {Action.EXPORT},
}


def role_may(role: str | None, action: Action) -> bool:
    """Whether a clerk with `role` may do `action`."""
    try:
        return Action(action) in MATRIX[Role(role)]
    except ValueError:
        return False


def may(user, action: Action) -> bool:
    """Whether `user` (an active clerk, or anyone else: never) may do `action` in their company."""
    return bool(user is not None and user.is_clerk and user.is_active and role_may(user.role, action))
