import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.billing.money import Money
from portal.db import Base
from portal.models.card import SavedCard
from portal.models.company import Company
from portal.models.invoice import Invoice
from portal.models.payment import Payment
from portal.models.types import UTCDateTime, utcnow
from portal.models.user import User


class ApprovalRule(Base):
    """A company's rule that a payment above `threshold` (in `currency`) waits for a second clerk's approval.

    Autopay keeps to the same ceiling. A company without a row has no such rule.
    """

    __tablename__ = "approval_rule"
    __table_args__ = (
        CheckConstraint("threshold > 0", name="threshold_positive"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )

    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), primary_key=True)
    threshold: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Admins always may approve; payers only when the company says so.
    payers_may_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApprovalStatus(enum.StrEnum):
    AWAITING = "awaiting"
    APPROVED = "approved"  # charged through `payment`, whose own status says how that ended
    # Approved, but the charge was refused before it was made (invoice paid meanwhile, what is due
    # changed, card removed): nothing was charged; `refusal_code` says why.
    NOT_CHARGED = "not_charged"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by the clerk who prepared it
    EXPIRED = "expired"


class PaymentApproval(Base):
    """A payment a clerk prepared above the company's threshold, waiting for a second clerk.

    It holds no claim on its invoices: while it waits they stay free to be paid, credited or
    disputed. Approving it charges the preparer's card through the ordinary payment path,
    which re-reads what is due then, and charges nothing unless it is still exactly what was
    prepared.
    """

    __tablename__ = "payment_approval"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('awaiting', 'approved', 'not_charged', 'rejected', 'withdrawn', 'expired')",
                        name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    # From the pay page's attempt key: submitting the same page twice prepares one payment.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Set for a part payment of a single invoice; otherwise all that is due is paid.
    part_amount: Mapped[int | None] = mapped_column(BigInteger)
    saved_card_id: Mapped[int] = mapped_column(ForeignKey("saved_card.id"))
    status: Mapped[str] = mapped_column(String(20), default=ApprovalStatus.AWAITING, index=True)
    prepared_by_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was rejected, in the approver's words.
    note: Mapped[str | None] = mapped_column(Text)
    # Why the charge was refused at approval: a code of portal/errors.py and its message's
    # parameters (a sum of money as {"amount", "currency"}), written in each reader's language.
    refusal_code: Mapped[str | None] = mapped_column(String(40))
    refusal_params: Mapped[dict | None] = mapped_column(JSON)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))

    company: Mapped[Company] = relationship()
    card: Mapped[SavedCard] = relationship()
    payment: Mapped[Payment | None] = relationship()
    prepared_by: Mapped[User] = relationship(foreign_keys=[prepared_by_user_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_user_id])
    invoices: Mapped[list["PaymentApprovalInvoice"]] = relationship(
        back_populates="approval", cascade="all, delete-orphan", order_by="PaymentApprovalInvoice.invoice_id")

    @property
    def invoice_ids(self) -> tuple[int, ...]:
        return tuple(line.invoice_id for line in self.invoices)

    def record_refusal(self, code: str, params: dict) -> None:
        self.refusal_code = code
        self.refusal_params = {name: {"amount": value.amount, "currency": value.currency} if isinstance(value, Money)
                               else value for name, value in params.items()}

    @property
    def refusal_parameters(self) -> dict:
        """The refusal's message parameters as the domain error gave them (a sum as `Money`)."""
        return {name: Money(value["amount"], value["currency"]) if isinstance(value, dict) else value
                for name, value in (self.refusal_params or {}).items()}

    def is_expired(self, now: datetime) -> bool:
        return self.status == ApprovalStatus.EXPIRED or (
            self.status == ApprovalStatus.AWAITING and now >= self.expires_at)


class PaymentApprovalInvoice(Base):
    """One invoice of a payment waiting for approval, with what was due on it when prepared."""

    __tablename__ = "payment_approval_invoice"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    approval_id: Mapped[int] = mapped_column(ForeignKey("payment_approval.id"), primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"), primary_key=True, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)

    approval: Mapped[PaymentApproval] = relationship(back_populates="invoices")
    invoice: Mapped[Invoice] = relationship()
