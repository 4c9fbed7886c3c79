"""Signing in, and resetting a forgotten password."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.errors import InvalidCredentials, InvalidResetToken, TooManyAttempts, WeakPassword
from portal.mail import compose, outbox
from portal.models import LoginAttempt, User
from portal.models.types import utcnow

MIN_PASSWORD_LENGTH = 10
# Checked against when the e-mail is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("acquit-timing-equaliser")


class SetPasswordLinks:
    """Signed, one-time links to set a password: for a reset, or to accept an invitation.

    A link names the user and their `session_version`; setting a password bumps that
    version, so the link (and every other session) stops working once used.
    """

    RESET = "acquit.password-reset"
    INVITATION = "acquit.invitation"

    def __init__(self, secret_key: str, base_url: str, *, reset_max_age: int = 3600,
                 invitation_max_age: int = 7 * 86400):
        self.secret_key = secret_key
        self.base_url = base_url.rstrip("/")
        self.reset_max_age = reset_max_age
        self.invitation_max_age = invitation_max_age

    def reset_url(self, user: User) -> str:
        return f"{self.base_url}/reset-password/{self._token(user, self.RESET)}"

    def invitation_url(self, user: User) -> str:
        return f"{self.base_url}/invitation/{self._token(user, self.INVITATION)}"

    def _token(self, user: User, purpose: str) -> str:
        return URLSafeTimedSerializer(self.secret_key, salt=purpose).dumps(
            {"user": user.id, "version": user.session_version}
        )

    def user_for(self, session: Session, token: str, purpose: str) -> User:
        """The user a valid, unused link of `purpose` names, or `InvalidResetToken`."""
        max_age = self.reset_max_age if purpose == self.RESET else self.invitation_max_age
        try:
            payload = URLSafeTimedSerializer(self.secret_key, salt=purpose).loads(token, max_age=max_age)
        except (SignatureExpired, BadSignature) as error:
            raise InvalidResetToken() from error
        user = session.get(User, payload.get("user")) if isinstance(payload, dict) else None
        if user is None or not user.is_active or user.session_version != payload.get("version"):
            raise InvalidResetToken()
        return user


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def check_new_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"at least {MIN_PASSWORD_LENGTH} characters")


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    ip_address: str,
    policy: LoginPolicy = LoginPolicy(),
    now: datetime | None = None,
) -> User:
    """The active user with this e-mail and password, or `InvalidCredentials`.

    Failures are counted per e-mail and per address over a sliding window; past the limit
    `TooManyAttempts` is raised before the password is even checked.
    """
    now = now or utcnow()
    email = normalise_email(email)
    since = now - policy.window
    failures_for_email, failures_from_ip = session.execute(
        select(
            func.count().filter(LoginAttempt.email == email),
            func.count().filter(LoginAttempt.ip_address == ip_address),
        ).where(
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.attempted_at >= since,
            (LoginAttempt.email == email) | (LoginAttempt.ip_address == ip_address),
        )
    ).one()
    # An address may sign in several colleagues behind one NAT, so it gets more room.
    if failures_for_email >= policy.max_failures or failures_from_ip >= policy.max_failures * 4:
        raise TooManyAttempts()
    user = session.scalar(select(User).where(User.email == email))
    password_hash = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    password_ok = check_password_hash(password_hash, password or "")
    succeeded = bool(password_ok and user is not None and user.password_hash and user.is_active)
    session.add(LoginAttempt(email=email[:254], ip_address=ip_address[:45], succeeded=succeeded, attempted_at=now))
    if not succeeded:
        raise InvalidCredentials()
    return user


def request_password_reset(
    session: Session, email: str, *, links: SetPasswordLinks, supplier_name: str, locale_fallback: str
) -> None:
    """E-mail a reset link if an active user has this address; say nothing either way."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.is_active:
        return
    locale = user.locale or (user.company.locale if user.company else None) or locale_fallback
    message = compose.render(
        "password_reset", locale, reset_url=links.reset_url(user), user=user, supplier_name=supplier_name
    )
    outbox.enqueue(session, [user.email], message)


def set_password_from_link(
    session: Session, token: str, new_password: str, *, links: SetPasswordLinks, purpose: str
) -> User:
    """Set a password from a reset or invitation link; the link then stops working, as do old sessions."""
    user = links.user_for(session, token, purpose)
    check_new_password(new_password)
    user.password_hash = hash_password(new_password)
    user.session_version += 1
    return user
