import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, utcnow


class CompanyFieldKind(enum.StrEnum):
    TEXT = "text"
    CHOICE = "choice"


class CompanyField(Base):
    """A field a customer company defines for its own bookkeeping (cost centre, GL account…),
    filled in by its clerks on each invoice; nothing to do with the supplier's `custom_fields`."""

    __tablename__ = "company_field"
    __table_args__ = (
        UniqueConstraint("company_id", "label", name="uq_company_field_company_label"),
        CheckConstraint("kind IN ('text', 'choice')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    label: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(10), default=CompanyFieldKind.TEXT)
    # The values a "choice" field offers, in the order the company gave them.
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvoiceFieldValue(Base):
    """What a company's clerks filled in for one of its fields on one of its invoices."""

    __tablename__ = "invoice_field_value"
    __table_args__ = (UniqueConstraint("invoice_id", "field_id", name="uq_invoice_field_value_invoice_field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id"))
    field_id: Mapped[int] = mapped_column(ForeignKey("company_field.id"), index=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
