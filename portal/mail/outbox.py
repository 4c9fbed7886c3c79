"""The outbox: every e-mail is a row written in the transaction that causes it, then sent.

Writing the row in the same transaction means a rolled-back change sends nothing, and a
committed one cannot lose its e-mail: what the SMTP server did not accept stays pending and
`acquit outbox deliver` tries it again.
"""

import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.billing.pdf import render_invoice_pdf
from portal.billing.status import invoice_status
from portal.clock import today
from portal.mail.compose import ComposedEmail
from portal.models import Invoice, OutboxMessage
from portal.models.types import utcnow

log = logging.getLogger(__name__)

PENDING_IDS_KEY = "acquit.outbox.pending"
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    # Drawn on the invoice PDFs that go with e-mails.
    supplier_name: str = ""


def enqueue(session: Session, recipients: list[str], email: ComposedEmail, *,
            attach_invoice_id: int | None = None, locale: str | None = None) -> OutboxMessage:
    """Add `email` for `recipients` to the outbox, in the session's transaction.

    With `attach_invoice_id`, that invoice's PDF (in `locale`) goes with it.
    """
    message = OutboxMessage(
        recipients=list(recipients), subject=email.subject, body_text=email.text, body_html=email.html,
        attach_invoice_id=attach_invoice_id, locale=locale,
    )
    session.add(message)
    session.flush()
    session.info.setdefault(PENDING_IDS_KEY, set()).add(message.id)
    return message


def take_enqueued_ids(session: Session) -> set[int]:
    """The ids of messages this session enqueued since last asked (to send right after commit)."""
    return session.info.pop(PENDING_IDS_KEY, set())


def deliver(session: Session, smtp: SmtpSettings | None, ids: set[int] | None = None) -> int:
    """Send pending messages (all, or those in `ids`); returns how many were sent.

    With no SMTP configured, messages stay pending and are written to the log instead, so a
    demo without a mail server still shows its password-reset links.
    """
    statement = select(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.attempts < MAX_ATTEMPTS
    ).order_by(OutboxMessage.id)
    if ids is not None:
        if not ids:
            return 0
        statement = statement.where(OutboxMessage.id.in_(ids))
    messages = session.scalars(statement).all()
    if smtp is None:
        for message in messages:
            log.warning(
                "No SMTP server configured (ACQUIT_SMTP_HOST); e-mail %s stays in the outbox.\n"
                "To: %s\nSubject: %s\n\n%s",
                message.id, ", ".join(message.recipients), message.subject, message.body_text,
            )
        return 0
    sent = 0
    for message in messages:
        message.attempts += 1
        try:
            _send(session, smtp, message)
        except (smtplib.SMTPException, OSError) as error:
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            log.error("Sending e-mail %s failed: %s", message.id, message.last_error)
            continue
        message.status = "sent"
        message.sent_at = utcnow()
        message.last_error = None
        sent += 1
    return sent


def _send(session: Session, smtp: SmtpSettings, message: OutboxMessage) -> None:
    email = EmailMessage()
    email["From"] = smtp.sender
    email["To"] = ", ".join(message.recipients)
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=f"acquit-{message.id}")
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    if message.attach_invoice_id is not None:
        invoice = session.get(Invoice, message.attach_invoice_id)
        document = render_invoice_pdf(invoice, status=invoice_status(invoice, today()), supplier_name=smtp.supplier_name,
                                      locale=message.locale or invoice.company.locale)
        email.add_attachment(document, maintype="application", subtype="pdf", filename=f"{invoice.number}.pdf")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(email)
