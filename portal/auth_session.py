"""Finding the signed-in user from the id `User.get_id` put in the session cookie."""

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from portal.models import User

# The company too, in the same statement: every clerk's page reads it. Built once: on a cached
# page, building and keying the statement cost as much as running it.
_USER_WITH_COMPANY = select(User).options(joinedload(User.company)).where(User.id == bindparam("user_id"))


def load_user_from_session_id(session: Session, session_id: str) -> User | None:
    user_id, _, version = (session_id or "").partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = session.scalar(_USER_WITH_COMPANY, {"user_id": int(user_id)})
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user
