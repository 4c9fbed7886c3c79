from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, utcnow


class ThrottleHit(Base):
    """One use of a rate-limited action (a guest page view, a guest payment attempt), by key.

    Kept in the database, not in a process's memory, so the limit holds across every worker.
    """

    __tablename__ = "throttle_hit"
    __table_args__ = (Index("ix_throttle_hit_scope_key_at", "scope", "key", "hit_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(128))
    hit_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
