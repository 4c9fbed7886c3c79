from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.company import Company
from portal.models.invoice import Invoice
from portal.models.types import UTCDateTime, utcnow


class ReminderPolicy(Base):
    """When invoices are chased: the supplier's default (no company), or one company's own.

    A step is a number of days from the due date: negative is a notice before it, positive a
    reminder after it. A company's row may only pause it (`reminder_days` None: the default's
    steps apply) or give it steps of its own.
    """

    __tablename__ = "reminder_policy"
    __table_args__ = (
        # At most one row per company, and one default (NULLs are distinct in a unique index,
        # so the default's row is told by a flag that a partial index keeps single).
        Index("uq_reminder_policy_company", "company_id", unique=True),
        Index("uq_reminder_policy_default", "is_default", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
        CheckConstraint("(company_id IS NULL) = is_default", name="default_has_no_company"),
        CheckConstraint("notice_days IS NULL OR (notice_days >= 1 AND notice_days <= 60)", name="notice_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("company.id"))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Days before the due date the notice goes; None: no notice.
    notice_days: Mapped[int | None] = mapped_column(Integer)
    # Days after the due date each reminder goes, ascending; None on a company's row: the default's.
    reminder_days: Mapped[list[int] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    company: Mapped[Company | None] = relationship()


class ReminderEmail(Base):
    """One consolidated e-mail of notices and reminders sent to a company's billing recipients."""

    __tablename__ = "reminder_email"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    # The day on the supplier's calendar the run acted as of.
    sent_on: Mapped[date] = mapped_column(Date)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    company: Mapped[Company] = relationship()
    items: Mapped[list["ReminderItem"]] = relationship(back_populates="email", order_by="ReminderItem.id")


class ReminderItem(Base):
    """One invoice in a reminder e-mail, at one step of its schedule.

    `(invoice_id, step)` is unique: taking a step of an invoice is a claim that a second run
    (another machine, another cron entry) cannot also win, so each step is sent once.
    """

    __tablename__ = "reminder_item"
    __table_args__ = (UniqueConstraint("invoice_id", "step", name="uq_reminder_item_invoice_step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(ForeignKey("reminder_email.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    # Days from the due date: negative for the notice.
    step: Mapped[int] = mapped_column(Integer)
    # What was asked for (the undisputed amount due) and what an active dispute held back.
    amount_asked: Mapped[int] = mapped_column(BigInteger)
    amount_disputed: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))

    email: Mapped[ReminderEmail] = relationship(back_populates="items")
    invoice: Mapped[Invoice] = relationship()


class StatementSubscription(Base):
    """A company that gets its statement of account e-mailed at the start of each month."""

    __tablename__ = "statement_subscription"

    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class MonthlyStatement(Base):
    """A month's statement e-mailed to a subscribed company; `(company, month)` is unique, so it goes once."""

    __tablename__ = "monthly_statement"
    __table_args__ = (UniqueConstraint("company_id", "month", name="uq_monthly_statement_company_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    # The first day of the month the statement covers.
    month: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
