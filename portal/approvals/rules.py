"""Who may do what with payment approvals, and when a payment needs one: in this one place.

The company's permission matrix, once it names "approve payments", is where these answers
should come from; until then they are read off the clerk's role here and nowhere else.
"""

from portal.models import ApprovalRule, Role, User


def may_prepare(user: User, company_id: int) -> bool:
    """Whoever may pay may prepare a payment that then waits for approval."""
    return user.is_clerk and user.company_id == company_id and user.can_pay


def may_set_rule(user: User, company_id: int) -> bool:
    return user.is_clerk and user.company_id == company_id and user.role == Role.ADMIN


def may_approve(user: User, company_id: int, rule: ApprovalRule | None) -> bool:
    """An admin of the company, or one of its payers if the rule allows it."""
    if not (user.is_clerk and user.company_id == company_id and user.is_active):
        return False
    return user.role == Role.ADMIN or (user.role == Role.PAYER and rule is not None and rule.payers_may_approve)


def needs_approval(rule: ApprovalRule | None, amount: int, currency: str) -> bool:
    """Whether paying `amount` needs a second clerk: above the threshold, or in a currency it cannot vouch for."""
    if rule is None:
        return False
    return currency != rule.currency or amount > rule.threshold
