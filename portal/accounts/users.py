"""A company admin's colleagues: invite them, change their role, disable and enable them.

A company always keeps one active admin: the last one can neither demote nor disable
themselves, so nobody is left able to manage the company's users.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.errors import AccountError
from portal.accounts.invitations import invite_clerk
from portal.accounts.permissions import Action, Role, may
from portal.accounts.service import SetPasswordLinks, end_sessions
from portal.audit import Actor
from portal.models import User


class NotAllowed(AccountError):
    """The acting user may not manage this company's users."""


class LastAdmin(AccountError):
    """The change would leave the company without an active admin."""


def company_users(session: Session, company_id: int) -> list[User]:
    """The clerks of `company_id`: active ones first, then by e-mail."""
    return list(session.scalars(
        select(User).where(User.company_id == company_id).order_by(User.is_active.desc(), User.email)
    ))


def find_company_user(session: Session, company_id: int, user_id: int) -> User | None:
    """Clerk `user_id` if they belong to `company_id`."""
    return session.scalar(select(User).where(User.id == user_id, User.company_id == company_id))


def invite_colleague(session: Session, admin: User, *, email: str, role: Role, links: SetPasswordLinks,
                     supplier_name: str) -> tuple[User, str]:
    """`admin` invites `email` into their own company with `role` (see `invite_clerk`)."""
    _require_manager(admin)
    return invite_clerk(session, Actor.user(admin), company=admin.company, email=email, role=Role(role),
                        links=links, supplier_name=supplier_name, invited_by=admin)


def change_role(session: Session, admin: User, colleague: User, role: Role) -> None:
    """Give `colleague` `role`; refuses to demote the company's last active admin."""
    _require_manager(admin, colleague)
    role = Role(role)
    if colleague.role == role:
        return
    if colleague.role == Role.ADMIN and colleague.is_active:
        _keep_an_admin(session, colleague)
    previous, colleague.role = colleague.role, role
    audit.record(session, "user.role_changed", Actor.user(admin), company_id=colleague.company_id,
                 email=colleague.email, role=str(role), previous_role=str(previous))


def disable_user(session: Session, admin: User, colleague: User) -> None:
    """`colleague` can no longer sign in, and every session of theirs ends at once."""
    _require_manager(admin, colleague)
    if not colleague.is_active:
        return
    if colleague.role == Role.ADMIN:
        _keep_an_admin(session, colleague)
    colleague.is_active = False
    end_sessions(colleague)
    audit.record(session, "user.disabled", Actor.user(admin), company_id=colleague.company_id,
                 email=colleague.email)


def enable_user(session: Session, admin: User, colleague: User) -> None:
    """`colleague` may sign in again with their password (or accept a new invitation)."""
    _require_manager(admin, colleague)
    if colleague.is_active:
        return
    colleague.is_active = True
    audit.record(session, "user.enabled", Actor.user(admin), company_id=colleague.company_id,
                 email=colleague.email)


def _require_manager(admin: User, colleague: User | None = None) -> None:
    if not may(admin, Action.MANAGE_USERS) or (colleague is not None and colleague.company_id != admin.company_id):
        raise NotAllowed()


def _keep_an_admin(session: Session, leaving: User) -> None:
    # The company's admins are locked (on PostgreSQL; SQLite has one writer anyway), so two
    # admins demoting each other at the same moment cannot both succeed.
    admin_ids = session.scalars(
        select(User.id).where(User.company_id == leaving.company_id, User.role == Role.ADMIN,
                              User.is_active.is_(True)).with_for_update()
    ).all()
    if not set(admin_ids) - {leaving.id}:
        raise LastAdmin()

