"""Telling a company of its new invoices: an e-mail to each of its recipients who receive invoices,
queued in the transaction that creates the invoice and composed when it is sent, and an audit row.
"""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.recipients import recipients_by_company
from portal.audit import Actor
from portal.mail import outbox
from portal.models import RecipientPurpose


@dataclass(frozen=True)
class NewInvoice:
    id: int
    company_id: int
    # The company's language, which its e-mails and attached documents are written in.
    locale: str


def queue_new_invoice_emails(session: Session, actor: Actor, invoices: list[NewInvoice], *,
                             send_after_commit: bool = False) -> int:
    """Queue each invoice's e-mail, with its PAY NOW link and the document each recipient chose (or none),
    to its company's recipients of invoices; returns how many e-mails were queued.

    Nothing is rendered here: the delivery writes each e-mail as it sends it. With
    `send_after_commit` (an invoice from a single API call) the request sends them right
    after its commit; otherwise the outbox worker does.
    """
    recipients = recipients_by_company(session, {invoice.company_id for invoice in invoices}, RecipientPurpose.INVOICES)
    emails = [
        outbox.InvoiceEmail(recipient=recipient.email, invoice_id=invoice.id, locale=invoice.locale,
                            attach_format=recipient.invoice_format if recipient.wants_attachment else None)
        for invoice in invoices
        for recipient in recipients.get(invoice.company_id, [])
    ]
    outbox.enqueue_invoice_emails(session, emails, send_after_commit=send_after_commit)
    audit.record_all(session, actor, [
        audit.Entry("invoice.sent", company_id=invoice.company_id, invoice_id=invoice.id,
                    details={"recipients": len(recipients.get(invoice.company_id, []))})
        for invoice in invoices
    ])
    return len(emails)
