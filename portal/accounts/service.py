"""Signing in, and resetting a forgotten password."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from portal import throttle
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
        except SignatureExpired as error:
            # Only raised for a genuine signature: a tampered link is never called "expired".
            raise InvalidResetToken(InvalidResetToken.EXPIRED) from error
        except BadSignature as error:
            raise InvalidResetToken(InvalidResetToken.INVALID) from error
        user = session.get(User, payload.get("user")) if isinstance(payload, dict) else None
        if user is None:
            raise InvalidResetToken(InvalidResetToken.INVALID)
        if not user.is_active:
            raise InvalidResetToken(InvalidResetToken.WITHDRAWN)
        if user.session_version != payload.get("version"):
            raise InvalidResetToken(InvalidResetToken.USED)
        return user


@dataclass(frozen=True)
class LoginPolicy:
    """How failed sign-ins slow down whoever makes them, without shutting the account's owner out.

    Failures in the last `window` are counted three ways: for the e-mail, for the e-mail from
    one client address, and for the client address whatever the e-mail. Past `max_failures`
    (four times that for an address, which may sign in a whole office behind one NAT) each
    further try must wait, from the last failure, `first_wait`, then twice that, and so on up
    to `longest_wait`: slower and slower, never locked.

    A browser the user has signed in from before (it shows a signed cookie naming them) is not
    held back by the e-mail's count: a stranger guessing from elsewhere cannot keep the owner
    out; only the owner's own address and that browser's failures count against it.
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    first_wait: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(minutes=15)

    def wait(self, failures: int, *, room: int = 1) -> timedelta:
        return throttle.backoff(failures, free=self.max_failures * room, first_wait=self.first_wait,
                                longest_wait=self.longest_wait)


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
    known_user_ids: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> User:
    """The active user with this e-mail and password, or `InvalidCredentials`.

    `TooManyAttempts` is raised, before the password is even checked and without counting
    the try, while `policy` says the recent failures must be waited out. `known_user_ids`
    are the users the client's browser has signed in as before (see `LoginPolicy`).
    """
    now = now or utcnow()
    email = normalise_email(email)
    user = session.scalar(select(User).where(User.email == email))
    known_device = user is not None and user.id in known_user_ids
    wait_until = _throttled_until(session, policy, email, ip_address, known_device=known_device, now=now)
    if wait_until > now:
        raise TooManyAttempts(wait_until - now)
    password_hash = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    password_ok = check_password_hash(password_hash, password or "")
    succeeded = bool(password_ok and user is not None and user.password_hash and user.is_active)
    session.add(LoginAttempt(email=email[:254], ip_address=ip_address[:45], succeeded=succeeded, attempted_at=now))
    if not succeeded:
        raise InvalidCredentials()
    return user


def _throttled_until(session: Session, policy: LoginPolicy, email: str, ip_address: str, *,
                     known_device: bool, now: datetime) -> datetime:
    """The moment the next try for `email` from `ip_address` may be made (in the past if it may now)."""
    for_email = LoginAttempt.email == email
    from_ip = LoginAttempt.ip_address == ip_address
    pair = for_email & from_ip
    row = session.execute(
        select(
            func.count().filter(for_email), func.max(LoginAttempt.attempted_at).filter(for_email),
            func.count().filter(pair), func.max(LoginAttempt.attempted_at).filter(pair),
            func.count().filter(from_ip), func.max(LoginAttempt.attempted_at).filter(from_ip),
        ).where(LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at > now - policy.window,
                for_email | from_ip)
    ).one()
    (email_failures, email_last, pair_failures, pair_last, ip_failures, ip_last) = row
    counts = [(pair_failures, pair_last, 1), (ip_failures, ip_last, 4)]
    if not known_device:
        counts.append((email_failures, email_last, 1))
    return max((last + policy.wait(failures, room=room) for failures, last, room in counts
                if last is not None and policy.wait(failures, room=room)), default=now)


@dataclass(frozen=True)
class ResetLimits:
    """How many "forgot password" e-mails an address may be sent, and a client may ask for, per `window`."""

    per_email: int = 3
    per_client: int = 10
    window: timedelta = timedelta(hours=1)


def request_password_reset(
    session: Session, email: str, *, client_address: str, links: SetPasswordLinks, supplier_name: str,
    locale_fallback: str, limits: ResetLimits = ResetLimits(), now: datetime | None = None,
) -> None:
    """E-mail a reset link if an active user has this address and no limit is reached; say nothing either way.

    Every request is counted, whether the address exists or not, so the limits tell nothing
    either. The e-mail goes through the outbox once the answer is sent: sending it during the
    request would make the answer slower when the address exists.
    """
    email = normalise_email(email)
    # Counted under a digest: addresses that belong to nobody are not kept in clear.
    email_allowed = throttle.allow(session, "password-reset-email", hashlib.sha256(email.encode()).hexdigest(),
                                   limit=limits.per_email, window=limits.window, now=now)
    client_allowed = throttle.allow(session, "password-reset-client", client_address,
                                    limit=limits.per_client, window=limits.window, now=now)
    user = session.scalar(select(User).where(User.email == email))
    if not (email_allowed and client_allowed) or user is None or not user.is_active:
        return
    locale = user.locale or (user.company.locale if user.company else None) or locale_fallback
    message = compose.render(
        "password_reset", locale, reset_url=links.reset_url(user), user=user, supplier_name=supplier_name
    )
    outbox.enqueue(session, [user.email], message, after_response=True)


def set_password_from_link(
    session: Session, token: str, new_password: str, *, links: SetPasswordLinks, purpose: str
) -> User:
    """Set a password from a reset or invitation link; the link then stops working, as do old sessions."""
    user = links.user_for(session, token, purpose)
    check_new_password(new_password)
    user.password_hash = hash_password(new_password)
    end_sessions(user)
    return user


def end_sessions(user: User) -> None:
    """Sign `user` out everywhere: every session cookie issued before names an older version."""
    user.session_version += 1


def change_password(
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    *,
    ip_address: str,
    policy: LoginPolicy = LoginPolicy(),
    known_user_ids: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> None:
    """Set a new password for a signed-in user who proves they know the current one; ends every session.

    The current password is checked as a sign-in is, rate limits included: a session left
    open on someone else's screen is no way around them.
    """
    authenticate(session, user.email, current_password, ip_address=ip_address, policy=policy,
                 known_user_ids=known_user_ids, now=now)
    check_new_password(new_password)
    user.password_hash = hash_password(new_password)
    end_sessions(user)
