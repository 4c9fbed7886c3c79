"""The supplier's collections staff: who they are, creating one from the command line, disabling one."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.errors import LastActiveStaff, NotStaff
from portal.accounts.invitations import InvitationConflict
from portal.accounts.service import check_new_password, hash_password, normalise_email
from portal.audit import Actor
from portal.models import User, UserKind


def staff_members(session: Session) -> list[User]:
    """Every member of the collections staff, active first, by e-mail."""
    return list(session.scalars(select(User).where(User.kind == UserKind.STAFF)
                                .order_by(User.is_active.desc(), User.email)))


def create_staff(session: Session, actor: Actor, *, email: str, password: str, full_name: str = "") -> User:
    """A new, active staff member who signs in with `password` (`WeakPassword` if too short);
    `InvitationConflict` if the address is taken."""
    email = normalise_email(email)
    if "@" not in email:
        raise InvitationConflict("this is not an e-mail address")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise InvitationConflict("this e-mail address already has an account")
    check_new_password(password)
    user = User(email=email, full_name=full_name.strip(), kind=UserKind.STAFF, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, "user.created", actor, email=email, kind=str(UserKind.STAFF))
    return user


def set_staff_active(session: Session, actor: Actor, user: User, *, active: bool) -> None:
    """Enable or disable a staff member; disabling signs them out everywhere at once.

    Refuses (`LastActiveStaff`) to disable the last active member, who could not be replaced
    but from the command line.
    """
    if not user.is_staff:
        raise NotStaff("only the supplier's staff are managed here")
    if user.is_active == active:
        return
    if not active:
        others = session.scalar(select(User.id).where(User.kind == UserKind.STAFF, User.is_active.is_(True),
                                                      User.id != user.id).limit(1))
        if others is None:
            raise LastActiveStaff("the last active staff member cannot be disabled")
        user.session_version += 1
    user.is_active = active
    audit.record(session, "user.enabled" if active else "user.disabled", actor, email=user.email)
