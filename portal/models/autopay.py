import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.card import SavedCard
from portal.models.company import Company
from portal.models.invoice import Invoice
from portal.models.payment import Payment
from portal.models.types import UTCDateTime, utcnow


class AutopayStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # the card can no longer be charged: an admin must choose another
    CANCELLED = "cancelled"


class AutopayEnrolment(Base):
    """A company's standing instruction to charge a saved card for its invoices as they fall due.

    The mandate text the clerk accepted is kept word for word, with who accepted it, when and
    from where. A company has at most one enrolment that is not cancelled.
    """

    __tablename__ = "autopay_enrolment"
    __table_args__ = (
        CheckConstraint("days_before_due >= 0 AND days_before_due <= 30", name="days_before_due_range"),
        CheckConstraint("max_amount IS NULL OR max_amount > 0", name="max_amount_positive"),
        Index("uq_autopay_enrolment_company_live", "company_id", unique=True,
              sqlite_where=text("status != 'cancelled'"), postgresql_where=text("status != 'cancelled'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    saved_card_id: Mapped[int] = mapped_column(ForeignKey("saved_card.id"))
    days_before_due: Mapped[int] = mapped_column(Integer, default=0)
    # Invoices falling due before this day are not the mandate's to charge: a clerk turning
    # autopay on has not agreed to a sweep of every invoice already late. A replacement
    # (another card, other terms) keeps the date of the enrolment it replaces.
    covers_from: Mapped[date] = mapped_column(Date)
    # Above this (in `max_currency`), an invoice waits for a clerk's approval.
    max_amount: Mapped[int | None] = mapped_column(BigInteger)
    max_currency: Mapped[str | None] = mapped_column(String(3))
    mandate_text: Mapped[str] = mapped_column(Text)
    accepted_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_ip: Mapped[str] = mapped_column(String(45))
    status: Mapped[str] = mapped_column(String(20), default=AutopayStatus.ACTIVE)
    paused_reason: Mapped[str | None] = mapped_column(String(40))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    company: Mapped[Company] = relationship()
    card: Mapped[SavedCard] = relationship()


class AutopayAttemptStatus(enum.StrEnum):
    CLAIMED = "claimed"  # a run has taken it and is charging
    PROCESSING = "processing"  # charged, the provider's answer still being checked
    SUCCEEDED = "succeeded"
    DECLINED = "declined"  # retried on the schedule, then autopay stops for the invoice
    NEEDS_CUSTOMER = "needs_customer"  # the bank wants the cardholder: they got a PAY NOW link
    SKIPPED = "skipped"  # not charged, for `reason`


class AutopayAttempt(Base):
    """One try at charging one invoice under an enrolment, or why it was not charged.

    Its `(invoice_id, attempt_number)` is unique: taking attempt n of an invoice is a claim
    that a second run (another machine, another cron entry) cannot also win. The payment it
    makes has the idempotency key `autopay-<invoice>-<n>`, so a run killed and restarted
    finds the payment rather than making another. Attempt number 0 holds the invoice's
    latest reason for being skipped.
    """

    __tablename__ = "autopay_attempt"
    __table_args__ = (UniqueConstraint("invoice_id", "attempt_number", name="uq_autopay_attempt_invoice_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("autopay_enrolment.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    attempt_number: Mapped[int] = mapped_column(Integer)
    charge_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(40))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    next_try_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    enrolment: Mapped[AutopayEnrolment] = relationship()
    invoice: Mapped[Invoice] = relationship()
    payment: Mapped[Payment | None] = relationship()


class AutopayApproval(Base):
    """A clerk's yes to charge one invoice above the enrolment's maximum, up to `amount`."""

    __tablename__ = "autopay_approval"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    approved_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AutopayNotice(Base):
    """The advance notice e-mailed before an invoice is charged on `charge_date` (sent once per date)."""

    __tablename__ = "autopay_notice"
    __table_args__ = (UniqueConstraint("invoice_id", "charge_date", name="uq_autopay_notice_invoice_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    charge_date: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
