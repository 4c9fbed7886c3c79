"""Finding the signed-in user from the id `User.get_id` put in the session cookie."""

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.models import User


def load_user_from_session_id(session: Session, session_id: str) -> User | None:
    user_id, _, version = (session_id or "").partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    # The company too, in the same statement: every clerk's page reads it.
    user = session.scalar(select(User).options(joinedload(User.company)).where(User.id == int(user_id)))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user
