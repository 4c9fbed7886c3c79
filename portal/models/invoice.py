from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from portal.db import Base
from portal.models.company import Company
from portal.models.types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from portal.models.dispute import Dispute

# An issued, non-void invoice with something still due: a few percent of a long history, and all
# that balances, aging and "what you owe" read (portal.billing.status.open_invoice_condition says the same,
# term for term: SQLite uses a partial index only for a query repeating its terms as it normalises them).
OPEN_INVOICE = text("issued_at IS NOT NULL AND voided_at IS NULL AND amount_total > amount_paid + amount_credited")


class Invoice(Base):
    """An invoice of the supplier to one customer company.

    `amount_paid` and `amount_credited` are kept in step with the payment allocations and
    credit notes by `portal.billing.balances.refresh_invoice_balance`, so the list can filter
    and sort on what is due without summing rows for every invoice. The status is derived
    from them (see `portal.billing.status`), never stored.
    """

    __tablename__ = "invoice"
    __table_args__ = (
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        CheckConstraint("due_date >= issue_date", name="due_after_issue"),
        CheckConstraint("amount_paid >= 0 AND amount_credited >= 0", name="settled_not_negative"),
        CheckConstraint("amount_paid + amount_credited <= amount_total", name="not_oversettled"),
        Index("ix_invoice_company_due", "company_id", "due_date"),
        Index("ix_invoice_company_issue", "company_id", "issue_date"),
        Index("ix_invoice_company_po", "company_id", "po_number"),
        # The collections dashboard and companies list sum what open invoices owe, by company and
        # lateness: on PostgreSQL straight from this index, without reading the invoices.
        Index("ix_invoice_open", "company_id", "due_date", sqlite_where=OPEN_INVOICE, postgresql_where=OPEN_INVOICE,
              postgresql_include=["currency", "amount_total", "amount_paid", "amount_credited"]),
        # What was invoiced over the last 30 and 90 days (DSO), across every company.
        Index("ix_invoice_issue_date", "issue_date",
              postgresql_include=["currency", "amount_total", "issued_at", "voided_at"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    po_number: Mapped[str | None] = mapped_column(String(64))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount_net: Mapped[int] = mapped_column(BigInteger)
    amount_tax: Mapped[int] = mapped_column(BigInteger)
    amount_total: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_credited: Mapped[int] = mapped_column(BigInteger, default=0)
    custom_fields: Mapped[dict] = mapped_column(JSON, default=dict)
    # The custom fields' values, lowercased, one a line: what the invoice search looks in
    # (the same on SQLite and PostgreSQL, and not the field names). Kept by `_index_custom_fields`.
    custom_fields_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Part of every PAY NOW link; bumping it revokes all the links already sent.
    pay_link_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Issued invoices are the ones customers see; an invoice not yet issued is a draft.
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    company: Mapped[Company] = relationship()
    lines: Mapped[list["InvoiceLine"]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.position", cascade="all, delete-orphan"
    )
    # Read-only here: disputes are written by `portal.disputes.service`, and an active one
    # makes the invoice's derived status "disputed".
    disputes: Mapped[list["Dispute"]] = relationship(viewonly=True, order_by="Dispute.id")

    @property
    def amount_due(self) -> int:
        return self.amount_total - self.amount_paid - self.amount_credited

    @property
    def has_active_dispute(self) -> bool:
        return any(dispute.is_active for dispute in self.disputes)

    @validates("custom_fields")
    def _index_custom_fields(self, _key, fields: dict | None) -> dict:
        self.custom_fields_text = custom_fields_text(fields)
        return fields

    def __repr__(self) -> str:
        return f"<Invoice {self.number}>"


def custom_fields_text(fields: dict | None) -> str:
    """What the invoice search matches of custom fields: their values, lowercased, one a line."""
    return "\n".join(str(value) for value in (fields or {}).values()).lower()


class InvoiceLine(Base):
    """One line of an invoice; its net and tax amounts are computed once, when it is written."""

    __tablename__ = "invoice_line"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4, asdecimal=True))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2, asdecimal=True))
    amount_net: Mapped[int] = mapped_column(BigInteger)
    amount_tax: Mapped[int] = mapped_column(BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    @property
    def amount_total(self) -> int:
        return self.amount_net + self.amount_tax
