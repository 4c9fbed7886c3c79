from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base
from portal.models.types import UTCDateTime, utcnow


class OutboxMessage(Base):
    """An e-mail, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # The invoice whose PDF goes with the e-mail, drawn when it is sent (in `locale`), not
    # when it is queued: an import of thousands of invoices stays fast.
    attach_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    # A statement of account to draw and attach when it is sent, as {"company_id", "start", "end"}.
    attach_statement: Mapped[dict | None] = mapped_column(JSON)
    locale: Mapped[str | None] = mapped_column(String(5))
    # Which document of that invoice the recipient chose: "pdf" or "facturx" (portal.models.InvoiceFormat).
    attach_format: Mapped[str | None] = mapped_column(String(10))
    # An e-mail queued before it is written (a new invoice's, by the API or an import): the
    # delivery renders the template `compose` about `about_invoice_id` just before sending it,
    # and keeps the text it sent in subject and bodies (empty until then). A request or an
    # import of thousands of invoices renders none of them.
    compose: Mapped[str | None] = mapped_column(String(40))
    about_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id"))
    # "pending" until the SMTP server accepts it ("sent"), or "failed" once MAX_ATTEMPTS sends
    # failed: given up, it is listed for the staff (`portal.mail.outbox.given_up`).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # After a failed send, no delivery tries it again before this (see `portal.mail.outbox.retry_delay`).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a delivery took the message to send it; set, it keeps other deliveries off it until
    # it expires (see `portal.mail.outbox.CLAIM_EXPIRES_AFTER`), cleared when the send ends.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
