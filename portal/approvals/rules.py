"""When a payment needs a second person's approval, and who may give it.

What a role may do at all is the company's permission matrix (portal.accounts.permissions);
the approval rule then narrows "approve payments" to admins unless it lets payers approve too.
"""

from portal.accounts.permissions import Action, Role, may
from portal.models import ApprovalRule, User


def may_prepare(user: User, company_id: int) -> bool:
    """Whoever may pay may prepare a payment that then waits for approval."""
    return user.company_id == company_id and may(user, Action.PAY)


def may_set_rule(user: User, company_id: int) -> bool:
    return user.company_id == company_id and may(user, Action.SET_APPROVAL_RULE)


def may_approve(user: User, company_id: int, rule: ApprovalRule | None) -> bool:
    """A clerk of the company whose role may approve payments: an admin, or a payer if the rule allows it."""
    if not (user.company_id == company_id and may(user, Action.APPROVE_PAYMENTS)):
        return False
    return user.role == Role.ADMIN or (rule is not None and rule.payers_may_approve)


def needs_approval(rule: ApprovalRule | None, amount: int, currency: str) -> bool:
    """Whether paying `amount` needs a second person: above the threshold, or in a currency it cannot vouch for."""
    if rule is None:
        return False
    return currency != rule.currency or amount > rule.threshold
