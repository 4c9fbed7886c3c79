import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.invoice import Invoice
from portal.models.types import UTCDateTime, utcnow


class DisputeReason(enum.StrEnum):
    NOT_RECEIVED = "not_received"
    DAMAGED = "damaged"
    WRONG_PRICE = "wrong_price"
    WRONG_QUANTITY = "wrong_quantity"
    DUPLICATE = "duplicate"
    PO_MISMATCH = "po_mismatch"
    OTHER = "other"


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    AWAITING_CUSTOMER = "awaiting_customer"
    RESOLVED_CREDITED = "resolved_credited"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    INVOICE_VOIDED = "invoice_voided"


#: A dispute in one of these holds its amount back from reminders, autopay and payment.
ACTIVE_DISPUTE_STATUSES = (DisputeStatus.OPEN, DisputeStatus.AWAITING_CUSTOMER)

_ACTIVE = text("status IN ({})".format(", ".join(f"'{status.value}'" for status in ACTIVE_DISPUTE_STATUSES)))


class Dispute(Base):
    """A customer's disagreement with (part of) an invoice, followed to a resolution."""

    __tablename__ = "dispute"
    __table_args__ = (
        CheckConstraint("disputed_amount > 0", name="amount_positive"),
        # At most one active dispute per invoice, held by the database: two clerks raising one
        # at the same moment cannot both succeed.
        Index("uq_dispute_active_invoice", "invoice_id", unique=True,
              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    raised_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=DisputeStatus.OPEN, index=True)
    disputed_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("credit_note.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @hybrid_property
    def is_active(self) -> bool:
        """Still to be decided: it holds its amount back."""
        return self.status in ACTIVE_DISPUTE_STATUSES

    @is_active.inplace.expression
    @classmethod
    def _is_active_expression(cls):
        return cls.status.in_([status.value for status in ACTIVE_DISPUTE_STATUSES])

    invoice: Mapped[Invoice] = relationship()
    lines: Mapped[list["DisputeLine"]] = relationship(back_populates="dispute", cascade="all, delete-orphan")
    messages: Mapped[list["DisputeMessage"]] = relationship(
        back_populates="dispute", order_by="DisputeMessage.id", cascade="all, delete-orphan"
    )


class DisputeLine(Base):
    """An invoice line the customer disputes, and how much of it."""

    __tablename__ = "dispute_line"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"), index=True)
    invoice_line_id: Mapped[int] = mapped_column(ForeignKey("invoice_line.id"))
    amount: Mapped[int] = mapped_column(BigInteger)

    dispute: Mapped[Dispute] = relationship(back_populates="lines")


class DisputeMessage(Base):
    """One message of a dispute's thread, from the customer or the collections team."""

    __tablename__ = "dispute_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("dispute.id", ondelete="CASCADE"), index=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    from_staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dispute: Mapped[Dispute] = relationship(back_populates="messages")
    attachments: Mapped[list["DisputeAttachment"]] = relationship(back_populates="message")


class DisputeAttachment(Base):
    """Evidence attached to a dispute message; the file lives outside the web root under `storage_key`."""

    __tablename__ = "dispute_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("dispute_message.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    message: Mapped[DisputeMessage] = relationship(back_populates="attachments")
