import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.permissions import Action, may
from portal.db import Base
from portal.models.company import Company
from portal.models.types import UTCDateTime, utcnow


class UserKind(enum.StrEnum):
    CLERK = "clerk"
    STAFF = "staff"


class User(Base):
    """A clerk of one customer company, or a member of the supplier's collections staff."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'clerk' AND company_id IS NOT NULL AND role IS NOT NULL)"
            " OR (kind = 'staff' AND company_id IS NULL AND role IS NULL)",
            name="clerk_has_company_and_role",
        ),
        CheckConstraint("role IN ('admin', 'payer', 'viewer')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"), index=True)
    role: Mapped[str | None] = mapped_column(String(10))
    locale: Mapped[str | None] = mapped_column(String(5))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped when the password changes, so every session signed in before it ends.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company | None] = relationship()

    # flask-login's user protocol, written out so the model does not import Flask.
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        # The version changes with the password, so a reset signs out every other session.
        return f"{self.id}.{self.session_version}"

    @property
    def is_staff(self) -> bool:
        return self.kind == UserKind.STAFF

    @property
    def is_clerk(self) -> bool:
        return self.kind == UserKind.CLERK

    def can(self, action: Action) -> bool:
        """Whether this user may do `action` in their company (see portal.accounts.permissions)."""
        return may(self, action)

    @property
    def can_pay(self) -> bool:
        return may(self, Action.PAY)

    @property
    def can_export(self) -> bool:
        return may(self, Action.EXPORT)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class LoginAttempt(Base):
    """One sign-in attempt, kept to rate-limit guessing across every worker process."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_email_at", "email", "attempted_at"),
        Index("ix_login_attempt_ip_at", "ip_address", "attempted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip_address: Mapped[str] = mapped_column(String(45))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
