"""Rate limits kept in the database, so they hold across every worker process."""

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.models import ThrottleHit
from portal.models.types import utcnow


def allow(session: Session, scope: str, key: str, *, limit: int, window: timedelta,
          now: datetime | None = None) -> bool:
    """Count one use of `scope` by `key` and say whether it is within `limit` per `window`.

    A refused use is not counted, so a client hammering a limit does not extend its own ban.
    """
    now = now or utcnow()
    used = session.scalar(
        select(func.count()).where(ThrottleHit.scope == scope, ThrottleHit.key == key,
                                   ThrottleHit.hit_at > now - window)
    )
    if used >= limit:
        return False
    session.add(ThrottleHit(scope=scope, key=key[:128], hit_at=now))
    return True


def forget_before(session: Session, moment: datetime) -> int:
    """Delete hits older than `moment`; the limits never look that far back."""
    return session.execute(delete(ThrottleHit).where(ThrottleHit.hit_at < moment)).rowcount


def backoff(failures: int, *, free: int, first_wait: timedelta, longest_wait: timedelta) -> timedelta:
    """How long to wait after `failures` recent failures: nothing for the first `free`, then doubling.

    Progressive rather than a lock: whoever is behind the failures is slowed down ever more, but
    the wait never grows past `longest_wait`, so nobody is shut out for good.
    """
    if failures < free:
        return timedelta(0)
    doublings = min(failures - free, 32)  # 2**32 waits are longer than any cap; keeps the number small
    return min(longest_wait, first_wait * 2 ** doublings)
