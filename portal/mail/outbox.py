"""The outbox: every e-mail is a row written in the transaction that causes it, then sent.

Writing the row in the same transaction means a rolled-back change sends nothing, and a
committed one cannot lose its e-mail: what the SMTP server did not accept stays pending and
`acquit outbox deliver` tries it again.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.billing.document_files import DocumentFormat, invoice_file
from portal.billing.payable import undisputed_amount_due
from portal.billing.supplier import SupplierIdentity
from portal.db import insert_rows, run_as_writer
from portal.guest.links import PayLink, PayLinks
from portal.mail import compose
from portal.mail.compose import ComposedEmail
from portal.models import Company, Invoice, OutboxMessage
from portal.models.types import utcnow
from portal.statements.account import statement_of_account
from portal.statements.pdf import render_statement_pdf

log = logging.getLogger(__name__)

PENDING_IDS_KEY = "acquit.outbox.pending"
AFTER_RESPONSE_IDS_KEY = "acquit.outbox.after-response"
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    # Seconds to wait on each step of the SMTP conversation (connecting, each command): a
    # server that is down or silent costs a request at most this, then the worker retries.
    timeout: float = 5.0
    # Drawn on the invoice PDFs that go with e-mails, with a PAY NOW link from `pay_links`.
    supplier_name: str = ""
    supplier: SupplierIdentity | None = None
    pay_links: PayLinks | None = None


def enqueue(session: Session, recipients: list[str], email: ComposedEmail, *,
            attach_invoice_id: int | None = None, attach_format: str = "pdf", attach_statement: dict | None = None,
            locale: str | None = None, after_response: bool = False) -> OutboxMessage:
    """Add `email` for `recipients` to the outbox, in the session's transaction.

    With `attach_invoice_id`, that invoice's document in `attach_format` (in `locale`) goes with it;
    with `attach_statement` ({"company_id", "start", "end"}), that statement of account as a PDF.
    A request sends what it enqueued right after its commit; with `after_response`, only once
    its answer has gone, so the SMTP server's pace never shows in how long the request took.
    A message with a document attached is left to the outbox worker, which draws the PDF as it
    sends it: drawing is no request's work, and the document is as the invoice stands then.
    """
    message = OutboxMessage(
        recipients=list(recipients), subject=email.subject, body_text=email.text, body_html=email.html,
        attach_invoice_id=attach_invoice_id, attach_format=attach_format if attach_invoice_id else None,
        attach_statement=attach_statement, locale=locale,
    )
    session.add(message)
    session.flush()
    if attach_invoice_id is None and attach_statement is None:
        session.info.setdefault(AFTER_RESPONSE_IDS_KEY if after_response else PENDING_IDS_KEY, set()).add(message.id)
    return message


#: The e-mail bringing a new invoice and its PAY NOW link to a recipient: queued unwritten, composed when sent.
INVOICE_ISSUED = "invoice_issued"


@dataclass(frozen=True)
class InvoiceEmail:
    """A new invoice's e-mail to one recipient, to be written by the delivery that sends it."""

    recipient: str
    invoice_id: int
    locale: str
    # The document the recipient chose to receive with it ("pdf", "facturx"), None for the link only.
    attach_format: str | None


def enqueue_invoice_emails(session: Session, emails: list[InvoiceEmail], *, send_after_commit: bool = False) -> None:
    """Queue `emails` in the session's transaction, their text left to the delivery (`compose`).

    With `send_after_commit` (one invoice, sent by the request that made it), each without an
    attachment is also listed for the request to send right after its commit; otherwise they are
    written in one statement, whatever their number, and the outbox worker sends them.
    """
    rows = [
        {"recipients": [email.recipient], "subject": "", "body_text": "", "body_html": None,
         "compose": INVOICE_ISSUED, "about_invoice_id": email.invoice_id, "locale": email.locale,
         "attach_invoice_id": email.invoice_id if email.attach_format else None, "attach_format": email.attach_format,
         "status": "pending", "attempts": 0, "created_at": utcnow()}
        for email in emails
    ]
    if not rows:
        return
    if not send_after_commit:
        insert_rows(session, OutboxMessage.__table__, rows)
        return
    messages = [OutboxMessage(**row) for row in rows]
    session.add_all(messages)
    session.flush()
    # As `enqueue`: one with a document attached is the worker's, which draws it as it sends.
    session.info.setdefault(PENDING_IDS_KEY, set()).update(
        message.id for message in messages if message.attach_invoice_id is None)


def take_enqueued_ids(session: Session, *, after_response: bool = False) -> set[int]:
    """The ids of messages this session enqueued since last asked, to send right after commit
    (or, with `after_response`, those to send once the answer is sent)."""
    return session.info.pop(AFTER_RESPONSE_IDS_KEY if after_response else PENDING_IDS_KEY, set())


def deliver(session: Session, smtp: SmtpSettings | None, ids: set[int] | None = None, *,
            stop_at_first_failure: bool = False, log_unsent_bodies: bool = False) -> int:
    """Send pending messages (all, or those in `ids`), each once; returns how many were sent.

    Any number of deliveries may run at once (the worker on several machines, a cron job, the
    requests sending their own mail): a message is claimed in a committed transaction before it
    is sent and marked sent in another after, so no two deliveries send it. A claim left by a
    delivery that died is taken again once it is CLAIM_EXPIRES_AFTER old; a delivery killed
    between the SMTP server's "accepted" and marking the message sent is the one way an e-mail
    goes twice. Whatever `session` had open is committed first, and no transaction is open
    while the SMTP server is being talked to.

    A failed message waits `retry_delay(attempts)` before it is tried again, and after
    MAX_ATTEMPTS it is given up (status "failed") and listed for the staff. A request delivers
    with `stop_at_first_failure`: when the server is down, one timeout is all it costs, and the
    rest waits for the worker.

    With no SMTP configured, messages stay pending and the log says so; with
    `log_unsent_bodies` (the demo) it shows them in full, so a demo without a mail server still
    shows its password-reset links. Elsewhere the links, which are credentials, stay out of logs.
    """
    if ids is not None and not ids:
        return 0
    if smtp is None:
        _log_unsent(session, ids, with_bodies=log_unsent_bodies)
        return 0
    sent = 0
    # Each message is tried at most once per delivery, in order: a failed one waits for the next.
    after_id = 0
    while (message := run_as_writer(session, lambda: _claim_next(session, ids, after_id))) is not None:
        session.commit()
        after_id = message_id = message.id
        try:
            if message.compose is not None and not message.subject:
                # Written back as the one writer: on SQLite a delivery that read the row first could
                # not then write it while another delivery held the lock ("database is locked").
                run_as_writer(session, lambda: _compose(session, smtp, message))
                session.commit()
            _send(session, smtp, message)
        except Exception as error:
            session.rollback()
            error_text = f"{type(error).__name__}: {error}"[:2000]
            if isinstance(error, (smtplib.SMTPException, OSError)):
                log.error("Sending e-mail %s failed: %s", message_id, error_text)
            else:
                log.exception("Could not send e-mail %s", message_id)
            run_as_writer(session, lambda: _release(session, message_id, error_text))
            session.commit()
            if stop_at_first_failure:
                break
        else:
            run_as_writer(session, lambda: _mark_sent(session, message_id))
            session.commit()
            sent += 1
    return sent


#: A claim this old belongs to a delivery that died: the message is taken again (a send takes seconds).
CLAIM_EXPIRES_AFTER = timedelta(minutes=10)


def _claim_next(session: Session, ids: set[int] | None, after_id: int) -> OutboxMessage | None:
    """Take the first unclaimed pending message after `after_id`, counting the attempt; the caller commits.

    PostgreSQL locks the row and skips rows another delivery is claiming; SQLite runs this
    as the one writer (BEGIN IMMEDIATE), so the claim it reads is the latest.
    """
    now = utcnow()
    statement = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.attempts < MAX_ATTEMPTS, OutboxMessage.id > after_id,
               or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < now - CLAIM_EXPIRES_AFTER),
               or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now))
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        statement = statement.where(OutboxMessage.id.in_(ids))
    message = session.scalars(statement).first()
    if message is not None:
        # Counted when taken: a message whose sending kills the process still runs out of attempts.
        message.attempts += 1
        message.claimed_at = now
    return message


def _mark_sent(session: Session, message_id: int) -> None:
    message = session.get(OutboxMessage, message_id)
    message.status = "sent"
    message.sent_at = utcnow()
    message.claimed_at = None
    message.last_error = None


def _release(session: Session, message_id: int, error: str) -> None:
    """After a failed send: try again after the backoff, or give up after MAX_ATTEMPTS."""
    message = session.get(OutboxMessage, message_id)
    message.claimed_at = None
    message.last_error = error
    if message.attempts >= MAX_ATTEMPTS:
        message.status = "failed"
        message.next_attempt_at = None
        log.error("Gave up on e-mail %s to %s after %s attempts: %s", message.id, ", ".join(message.recipients),
                  message.attempts, error)
    else:
        message.next_attempt_at = utcnow() + retry_delay(message.attempts)


#: The first retry waits this long, each next one twice as long, up to RETRY_AT_MOST.
FIRST_RETRY_AFTER = timedelta(minutes=1)
RETRY_AT_MOST = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """How long a message that failed `attempts` times waits: 1, 2, 4 ... 32 min, then hourly
    (ten attempts span about four and a half hours of outage before it is given up)."""
    return min(FIRST_RETRY_AFTER * 2 ** (attempts - 1), RETRY_AT_MOST)


def given_up(session: Session) -> list[OutboxMessage]:
    """E-mails given up after MAX_ATTEMPTS failed sends, newest first, for the staff to act on."""
    return list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == "failed").order_by(OutboxMessage.id.desc())
    ))


def send_again(session: Session, message_id: int) -> OutboxMessage | None:
    """Put a given-up e-mail back in the outbox, with its attempts afresh; None if it is not given up."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.status != "failed":
        return None
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = None
    session.info.setdefault(PENDING_IDS_KEY, set()).add(message.id)
    return message


def _log_unsent(session: Session, ids: set[int] | None, *, with_bodies: bool) -> None:
    statement = select(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.attempts < MAX_ATTEMPTS
    ).order_by(OutboxMessage.id)
    if ids is not None:
        statement = statement.where(OutboxMessage.id.in_(ids))
    for message in session.scalars(statement):
        if with_bodies:
            log.warning(
                "No SMTP server configured (ACQUIT_SMTP_HOST); e-mail %s stays in the outbox.\n"
                "To: %s\nSubject: %s\n\n%s",
                message.id, ", ".join(message.recipients), message.subject, message.body_text,
            )
        else:
            log.warning("No SMTP server configured (ACQUIT_SMTP_HOST); e-mail %s (%s) stays in the outbox.",
                        message.id, message.subject)


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
        # An invoice voided since the e-mail was queued goes as the PDF that says so, never as data to book.
        chosen = DocumentFormat(message.attach_format or DocumentFormat.PDF)
        file_format = DocumentFormat.PDF if invoice.voided_at else chosen
        attached = invoice_file(session, invoice, smtp.supplier, file_format=file_format,
                                locale=message.locale or invoice.company.locale,
                                pay_url=smtp.pay_links.link_for(invoice).url if smtp.pay_links else None)
        email.add_attachment(attached.content, maintype="application", subtype="pdf", filename=attached.filename)
    if message.attach_statement is not None:
        document, filename = _statement_attachment(session, smtp, message)
        email.add_attachment(document, maintype="application", subtype="pdf", filename=filename)
    # Everything the e-mail needed from the database is read: end that transaction, so none is
    # open (and no lock held) however long the SMTP server takes.
    session.commit()
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls:
            client.starttls()
        if smtp.username:
            client.login(smtp.username, smtp.password or "")
        client.send_message(email)


def _compose(session: Session, smtp: SmtpSettings, message: OutboxMessage) -> None:
    """Write a message queued unwritten (`enqueue_invoice_emails`), keeping its text as the record of what went."""
    if message.compose != INVOICE_ISSUED or smtp.pay_links is None:
        raise ValueError(f"cannot compose {message.compose!r} e-mails here (pay links: {smtp.pay_links is not None})")
    invoice = session.get_one(Invoice, message.about_invoice_id)
    email = invoice_email(session, invoice, link=smtp.pay_links.link_for(invoice), supplier_name=smtp.supplier_name,
                          attached=message.attach_invoice_id is not None, language=message.locale)
    message.subject, message.body_text, message.body_html = email.subject, email.text, email.html


def invoice_email(session: Session, invoice: Invoice, *, link: PayLink, supplier_name: str, attached: bool,
                  language: str | None = None) -> ComposedEmail:
    """The e-mail bringing `invoice` and its PAY NOW `link` (with the document `attached`, or the link only).

    As on the PAY NOW page, a dispute holds part of the invoice back and the link charges only
    the rest: the e-mail says both.
    """
    return compose.render(INVOICE_ISSUED, compose.company_locale(invoice.company, language), invoice=invoice,
                          company=invoice.company, pay_url=link.url, expires_at=link.expires_at,
                          supplier_name=supplier_name, attached=attached, payable=undisputed_amount_due(session, invoice))


def _statement_attachment(session: Session, smtp: SmtpSettings, message: OutboxMessage) -> tuple[bytes, str]:
    company = session.get(Company, message.attach_statement["company_id"])
    start, end = (date.fromisoformat(message.attach_statement[key]) for key in ("start", "end"))
    statement = statement_of_account(session, company, start=start, end=end)
    document = render_statement_pdf(statement, supplier_name=smtp.supplier_name,
                                    locale=message.locale or company.locale)
    return document, f"statement-{company.external_ref}-{start.isoformat()}-{end.isoformat()}.pdf"
