import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.company import Company
from portal.models.invoice import Invoice
from portal.models.types import UTCDateTime, utcnow


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # A bank transfer or cheque recorded by mistake, taken back by the collections team: it settles nothing.
    CANCELLED = "cancelled"


#: A payment in one of these may still move money: its claims hold its invoices.
IN_FLIGHT_PAYMENT_STATUSES = (PaymentStatus.PENDING, PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_ACTION)


class PaymentAttention(enum.StrEnum):
    """Why the collections team must look at a payment: money the provider took that the ledger could not place."""

    LATE_SUCCESS = "late_success"  # the payer was told it failed; the provider later reported it succeeded
    AMOUNT_MISMATCH = "amount_mismatch"  # the provider took another amount or currency than we asked for
    OVERPAID = "overpaid"  # the invoices no longer owed all of it: the rest is an unallocated credit
    UNEXPECTED_CHARGE = "unexpected_charge"  # the provider reports another charge as this payment's
    LATE_REFUND = "late_refund"  # a refund recorded as never made was made after all: more may be given back


class PaymentChannel(enum.StrEnum):
    """How a payment came in."""

    PORTAL = "portal"
    GUEST = "guest"
    AUTOPAY = "autopay"
    OFFLINE = "offline"


class OfflineMethod(enum.StrEnum):
    """How money received outside the portal came in."""

    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"


#: Channels whose payments are card charges at the provider, and so can be refunded there.
CARD_CHANNELS = (PaymentChannel.PORTAL, PaymentChannel.GUEST, PaymentChannel.AUTOPAY)


class Payment(Base):
    """Money received from a customer company; its allocations say which invoices it settles.

    The row exists, with its idempotency key, before the payment provider is called.
    """

    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        # A payment's date as lists show, sort and filter it: when it succeeded, else when it started
        # (portal.collections.payments.payment_date).
        Index("ix_payment_date", text("coalesce(succeeded_at, created_at)"), "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    method_summary: Mapped[str] = mapped_column(String(100), default="")
    channel: Mapped[str] = mapped_column(String(10), default=PaymentChannel.PORTAL, server_default="portal")
    saved_card_id: Mapped[int | None] = mapped_column(ForeignKey("saved_card.id"))
    # Where a receipt goes: the clerk who paid, or the address a guest gave.
    receipt_email: Mapped[str | None] = mapped_column(String(254))
    failure_message: Mapped[str | None] = mapped_column(Text)
    # Why it failed, in words a program can act on: "card_declined", "authentication_required",
    # "expired_card", "never_reached" (the provider has no record of it), "canceled"...
    failure_code: Mapped[str | None] = mapped_column(String(40))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the provider was last asked where this payment stands (reconcile, a payer's page).
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attention: Mapped[str | None] = mapped_column(String(30), index=True)
    attention_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Money received outside the portal: how, on which day, and the payer's reference (the
    # transfer's wording, the cheque's number). Not unique: two transfers may say the same.
    offline_method: Mapped[str | None] = mapped_column(String(20))
    received_on: Mapped[date | None] = mapped_column(Date)
    payer_reference: Mapped[str | None] = mapped_column(String(255))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    allocations: Mapped[list["PaymentAllocation"]] = relationship(
        back_populates="payment", cascade="all, delete-orphan"
    )
    company: Mapped[Company] = relationship()
    refunds: Mapped[list["Refund"]] = relationship(back_populates="payment", order_by="Refund.id")

    @property
    def allocated_amount(self) -> int:
        return sum(allocation.amount for allocation in self.allocations)

    @property
    def unallocated_amount(self) -> int:
        """What a succeeded payment took that settles no invoice: a credit the collections team places or refunds."""
        if self.status != PaymentStatus.SUCCEEDED:
            return 0
        return self.amount - self.allocated_amount

    @property
    def reference(self) -> str | None:
        """The reference people quote: the payer's for money received outside the portal, else the provider's."""
        return self.payer_reference or self.provider_reference

    @property
    def refunded_amount(self) -> int:
        """What the provider has given back on this payment, on invoices and on its credit alike."""
        return sum(refund.amount for refund in self.refunds if refund.status == RefundStatus.SUCCEEDED)

    @property
    def display_status(self) -> str:
        """The status people read: a received payment given back in full or in part says so."""
        if self.status == PaymentStatus.SUCCEEDED and self.refunds:
            refunded = self.refunded_amount
            if refunded >= self.amount:
                return PaymentDisplayStatus.REFUNDED
            if refunded > 0:
                return PaymentDisplayStatus.PARTLY_REFUNDED
        return self.status

    @property
    def credit_left(self) -> int:
        """What of the unallocated credit is neither refunded nor being refunded."""
        given_back = sum(refund.amount for refund in self.refunds
                         if refund.allocation_id is None and refund.status != RefundStatus.FAILED)
        return self.unallocated_amount - given_back


class PaymentDisplayStatus(enum.StrEnum):
    """What a received payment became once money was given back; derived from its refunds, never stored."""

    REFUNDED = "refunded"
    PARTLY_REFUNDED = "partly_refunded"


class PaymentAllocation(Base):
    """The part of one payment that settles one invoice."""

    __tablename__ = "payment_allocation"
    __table_args__ = (
        UniqueConstraint("payment_id", "invoice_id", name="uq_payment_allocation_payment_invoice"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    invoice: Mapped[Invoice] = relationship()
    refunds: Mapped[list["Refund"]] = relationship(back_populates="allocation")


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(Base):
    """Money given back on a payment: on one invoice's share of it, or on its unallocated credit.

    Written before the provider is asked; it stays pending until the provider's answer is known.
    """

    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    # None: a refund of the payment's unallocated credit, which settles no invoice.
    allocation_id: Mapped[int | None] = mapped_column(ForeignKey("payment_allocation.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=RefundStatus.PENDING)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    provider_reference: Mapped[str | None] = mapped_column(String(255), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    failure_message: Mapped[str | None] = mapped_column(Text)
    # As a payment's: "never_reached" when the provider had no record of it when we gave up.
    failure_code: Mapped[str | None] = mapped_column(String(40))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the provider confirmed it: the day the money left, which is the refund's date in exports.
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    payment: Mapped[Payment] = relationship(back_populates="refunds")
    allocation: Mapped[PaymentAllocation | None] = relationship(back_populates="refunds")


class InvoicePaymentClaim(Base):
    """One row per invoice while a payment of it is in flight.

    The primary key makes a second concurrent payment of the same invoice fail at the
    database, whatever the web tier does: two tabs, a double click, a retried request.
    """

    __tablename__ = "invoice_payment_claim"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessedWebhookEvent(Base):
    """A provider event already handled; its id is the key, so a replay is recognised."""

    __tablename__ = "processed_webhook_event"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
