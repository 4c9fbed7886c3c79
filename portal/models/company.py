import enum
import secrets
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base
from portal.models.types import UTCDateTime, utcnow


class RecipientPurpose(enum.StrEnum):
    """What a billing recipient may choose to receive."""

    INVOICES = "invoices"
    REMINDERS = "reminders"
    RECEIPTS = "receipts"
    STATEMENTS = "statements"


class InvoiceFormat(enum.StrEnum):
    """What goes with an invoice e-mail to a recipient: the PDF, the Factur-X PDF, or only the link."""

    PDF = "pdf"
    FACTURX = "facturx"
    LINK = "link"


class BillingRecipient(Base):
    """An address of a customer company that receives its invoices, reminders, receipts or statements."""

    __tablename__ = "billing_recipient"
    __table_args__ = (
        UniqueConstraint("company_id", "email", name="uq_billing_recipient_company_email"),
        CheckConstraint("invoice_format IN ('pdf', 'facturx', 'link')", name="invoice_format_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("company.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    receives_invoices: Mapped[bool] = mapped_column(Boolean, default=True)
    receives_reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    receives_receipts: Mapped[bool] = mapped_column(Boolean, default=True)
    receives_statements: Mapped[bool] = mapped_column(Boolean, default=True)
    invoice_format: Mapped[str] = mapped_column(String(10), default=InvoiceFormat.PDF)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def receives(self, purpose: RecipientPurpose) -> bool:
        return getattr(self, f"receives_{purpose}")

    def __repr__(self) -> str:
        return f"<BillingRecipient {self.email}>"


def new_data_version() -> str:
    """A data version no company ever had: 128 random bits (see portal.billing.data_version)."""
    return secrets.token_hex(16)


class Company(Base):
    """A customer company of the supplier, known in the supplier's ERP by `external_ref`."""

    __tablename__ = "company"
    __table_args__ = (
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        CheckConstraint("locale IN ('fr', 'en')", name="locale_supported"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(5), default="fr")
    # The country whose formats the company reads in its language: "GB" gives English pages
    # British dates and times (15 Nov 2026, 14:05) rather than American ones. None: the language's own.
    region: Mapped[str | None] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # The buyer's identity printed on its invoices and carried in their Factur-X data.
    billing_address: Mapped[str | None] = mapped_column(String(300))
    billing_postcode: Mapped[str | None] = mapped_column(String(20))
    billing_city: Mapped[str | None] = mapped_column(String(100))
    # ISO 3166-1 alpha-2, e.g. FR.
    billing_country: Mapped[str | None] = mapped_column(String(2))
    vat_number: Mapped[str | None] = mapped_column(String(20))
    siren: Mapped[str | None] = mapped_column(String(9))
    # The company's customer record at the payment provider, created when a card is first saved.
    provider_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Changes, in the same transaction, with anything the company's pages show: the invoice
    # list's cache and ETags are keyed on it (portal.billing.data_version). The server default
    # only lets the migration add the column in place; every company written here gets a random one.
    data_version: Mapped[str] = mapped_column(String(32), default=new_data_version, server_default="initial")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    recipients: Mapped[list[BillingRecipient]] = relationship(
        cascade="all, delete-orphan", order_by=BillingRecipient.id
    )
    # The recipients' addresses, as the API and the ERP know them; a company built with
    # `billing_emails=[...]` gets recipients receiving everything, with the PDF. Changing the
    # list of an existing company goes through `portal.accounts.recipients.replace_billing_emails`,
    # which keeps each remaining recipient's choices.
    billing_emails: AssociationProxy[list[str]] = association_proxy(
        "recipients", "email", creator=lambda email: BillingRecipient(email=email)
    )

    def __repr__(self) -> str:
        return f"<Company {self.external_ref}>"
