"""A user's own page: their name and language, and what they have done (payments made, disputes raised)."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.accounts.errors import AccountError
from portal.models import Dispute, Payment, PaymentAllocation, User

LOCALES = ("fr", "en")
#: How many of each kind of action the page lists, newest first.
OWN_ACTIONS_SHOWN = 50


class InvalidProfile(AccountError, ValueError):
    """A name too long or a language the portal does not speak."""


@dataclass(frozen=True)
class OwnActions:
    payments: list[Payment]
    disputes: list[Dispute]


def update_profile(user: User, *, full_name: str, locale: str | None) -> None:
    """Set `user`'s name and language (None: their company's, or the browser's, language)."""
    full_name = " ".join((full_name or "").split())
    if len(full_name) > 200:
        raise InvalidProfile("full_name")
    if locale is not None and locale not in LOCALES:
        raise InvalidProfile("locale")
    user.full_name, user.locale = full_name, locale


def own_actions(session: Session, user: User) -> OwnActions:
    """The payments `user` made and the disputes they raised, in their company, newest first."""
    payments = session.scalars(
        select(Payment)
        .where(Payment.created_by_user_id == user.id, Payment.company_id == user.company_id)
        .options(selectinload(Payment.allocations).selectinload(PaymentAllocation.invoice))
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(OWN_ACTIONS_SHOWN)
    ).all()
    disputes = session.scalars(
        select(Dispute)
        .where(Dispute.raised_by_user_id == user.id, Dispute.company_id == user.company_id)
        .options(selectinload(Dispute.invoice))
        .order_by(Dispute.created_at.desc(), Dispute.id.desc())
        .limit(OWN_ACTIONS_SHOWN)
    ).all()
    return OwnActions(payments=list(payments), disputes=list(disputes))
