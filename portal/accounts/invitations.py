"""Inviting a clerk of a customer company: an e-mail with a one-time link to set a password."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.errors import AccountError
from portal.accounts.service import SetPasswordLinks, normalise_email
from portal.audit import Actor
from portal.mail import compose, outbox
from portal.models import Company, Role, User, UserKind


class InvitationConflict(AccountError):
    """The address belongs to someone who cannot be invited into this company."""


class Outcome:
    INVITED = "invited"
    REINVITED = "reinvited"
    UNCHANGED = "unchanged"


def invite_clerk(
    session: Session,
    actor: Actor,
    *,
    company: Company,
    email: str,
    role: Role,
    links: SetPasswordLinks,
    supplier_name: str,
    invited_by: User | None = None,
) -> tuple[User, str]:
    """Create a clerk of `company` and e-mail them a link to set their password.

    Inviting someone again who has not yet accepted sends a fresh link (the old one stops
    working, and someone disabled before accepting is enabled again); inviting someone who
    already has a password changes nothing. `invited_by`, a colleague, is named in the e-mail.
    """
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and user.company_id != company.id:
        raise InvitationConflict("this e-mail address already belongs to another account")
    if user is not None and user.password_hash:
        return user, Outcome.UNCHANGED
    outcome = Outcome.REINVITED
    if user is None:
        user = User(email=email, kind=UserKind.CLERK, company=company, role=role, password_hash=None)
        session.add(user)
        session.flush()
        outcome = Outcome.INVITED
    else:
        user.role = role
        user.is_active = True
        user.session_version += 1
    message = compose.render(
        "invitation",
        company.locale,
        accept_url=links.invitation_url(user),
        company=company,
        supplier_name=supplier_name,
        invited_by=invited_by,
        valid_days=links.invitation_max_age // 86400,
    )
    outbox.enqueue(session, [user.email], message)
    audit.record(session, "user.invited", actor, company_id=company.id, email=email, role=str(role))
    return user, outcome


def invite_staff(session: Session, actor: Actor, *, email: str, full_name: str, links: SetPasswordLinks,
                 supplier_name: str, locale: str) -> tuple[User, str]:
    """Make `email` a member of the collections staff and e-mail them a link to set their password.

    As for clerks: inviting again someone who has not accepted sends a fresh link; someone
    with a password is left as they are. A customer's clerk cannot be made staff.
    """
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is not None and not user.is_staff:
        raise InvitationConflict("this e-mail address belongs to a customer's account")
    if user is not None and user.password_hash:
        return user, Outcome.UNCHANGED
    outcome = Outcome.REINVITED
    if user is None:
        user = User(email=email, full_name=full_name.strip(), kind=UserKind.STAFF, password_hash=None, locale=locale)
        session.add(user)
        session.flush()
        outcome = Outcome.INVITED
    else:
        user.is_active = True
        user.session_version += 1
    message = compose.render("staff_invitation", user.locale or locale, accept_url=links.invitation_url(user),
                             supplier_name=supplier_name, valid_days=links.invitation_max_age // 86400)
    outbox.enqueue(session, [user.email], message)
    audit.record(session, "user.invited", actor, email=email, kind=str(UserKind.STAFF))
    return user, outcome
