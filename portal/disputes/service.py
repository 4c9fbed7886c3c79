"""Raising, discussing and resolving disputes, and what an active dispute holds back from payment.

A customer's admin or payer raises a dispute on (part of) an invoice that still has something
due; the customer and the collections team then write to each other on its thread, each side
told by e-mail; the team resolves it with a credit note, rejects it, or asks for more; the
customer may withdraw it. While a dispute is active (open, or awaiting the customer) its
amount is held back (portal.billing.payable says what may be asked for).

Every step is audited on the invoice's timeline. Nothing here commits: the request does.
"""

import enum
import logging
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from portal import audit
from portal.accounts.permissions import Action
from portal.accounts.recipients import recipients_for, unique_addresses
from portal.audit import Actor
from portal.billing.errors import InvalidInvoice, InvoiceConflict
from portal.billing.invoices import issue_credit_note
from portal.billing.payable import amount_owed, payment_in_flight, undisputed_amount_due
from portal.disputes.attachments import MAX_FILES_PER_MESSAGE, AttachmentStore, CheckedFile, Upload, check_upload
from portal.disputes.errors import (
    AttachmentRefused,
    DisputeConflict,
    DisputeNotFound,
    InvalidDispute,
    NotAllowed,
)
from portal.mail import compose, outbox
from portal.models import (
    Company,
    CreditNote,
    Dispute,
    DisputeAttachment,
    DisputeLine,
    DisputeMessage,
    DisputeReason,
    DisputeStatus,
    Invoice,
    RecipientPurpose,
    User,
)
from portal.models.types import utcnow

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 5000
MAX_NOTE_LENGTH = 2000


@dataclass(frozen=True)
class DisputeContext:
    """What the dispute services need besides the database: where files go, whom to tell, links."""

    store: AttachmentStore
    max_attachment_bytes: int
    collections_email: str | None
    staff_locale: str
    supplier_name: str
    base_url: str


@dataclass(frozen=True)
class DisputeClaim:
    """What a clerk disputes: a reason, an amount (None: all that is due) or invoice lines, a message, files."""

    reason: str
    message: str
    amount: int | None = None
    line_ids: tuple[int, ...] = ()
    uploads: tuple[Upload, ...] = ()


# Finding disputes -------------------------------------------------------------------------------


def customer_disputes(company_id: int) -> Select:
    """The company's disputes: the root of every customer-facing dispute query."""
    return select(Dispute).where(Dispute.company_id == company_id)


def find_customer_dispute(session: Session, company_id: int, dispute_id: int) -> Dispute:
    """One of the company's disputes, or `DisputeNotFound` (whether it exists for another company or not)."""
    dispute = session.scalar(customer_disputes(company_id).where(Dispute.id == dispute_id))
    if dispute is None:
        raise DisputeNotFound(f"no dispute {dispute_id} for company {company_id}")
    return dispute


def find_dispute(session: Session, dispute_id: int) -> Dispute:
    """Any company's dispute, for the collections team; `DisputeNotFound` if there is none."""
    dispute = session.get(Dispute, dispute_id)
    if dispute is None:
        raise DisputeNotFound(f"no dispute {dispute_id}")
    return dispute


def find_attachment(session: Session, dispute: Dispute, attachment_id: int) -> DisputeAttachment:
    """A file attached to one of `dispute`'s messages; `DisputeNotFound` for a file of any other dispute."""
    attachment = session.scalar(
        select(DisputeAttachment)
        .join(DisputeMessage, DisputeMessage.id == DisputeAttachment.message_id)
        .where(DisputeAttachment.id == attachment_id, DisputeMessage.dispute_id == dispute.id)
    )
    if attachment is None:
        raise DisputeNotFound(f"no attachment {attachment_id} on dispute {dispute.id}")
    return attachment


def company_disputes(session: Session, company_id: int) -> list[Dispute]:
    """The company's disputes, newest first, with their invoices."""
    return list(session.scalars(
        customer_disputes(company_id).options(selectinload(Dispute.invoice)).order_by(Dispute.id.desc())
    ))


def invoice_disputes(session: Session, invoice: Invoice) -> list[Dispute]:
    """Every dispute raised on `invoice`, oldest first."""
    return list(session.scalars(select(Dispute).where(Dispute.invoice_id == invoice.id).order_by(Dispute.id)))


def active_dispute(session: Session, invoice_id: int) -> Dispute | None:
    """The invoice's dispute in progress, if it has one (it never has two)."""
    return session.scalar(select(Dispute).where(Dispute.invoice_id == invoice_id, Dispute.is_active))


def thread(session: Session, dispute: Dispute) -> list[DisputeMessage]:
    """The dispute's messages, oldest first, with their attachments."""
    return list(session.scalars(
        select(DisputeMessage)
        .where(DisputeMessage.dispute_id == dispute.id)
        .options(selectinload(DisputeMessage.attachments))
        .order_by(DisputeMessage.created_at, DisputeMessage.id)
    ))


def message_authors(session: Session, messages: list[DisputeMessage]) -> dict[int, User]:
    """The authors of `messages`, by user id."""
    ids = {message.author_user_id for message in messages}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


class QueueOrder(enum.StrEnum):
    AGE = "age"
    AMOUNT = "amount"


def dispute_queue(session: Session, *, order: QueueOrder = QueueOrder.AGE) -> list[Dispute]:
    """Every active dispute, for the collections team: the oldest first, or the largest first."""
    oldest, largest = Dispute.created_at.asc(), Dispute.disputed_amount.desc()
    ordering = (oldest, largest) if order == QueueOrder.AGE else (largest, oldest)
    return list(session.scalars(
        select(Dispute)
        .where(Dispute.is_active)
        .options(selectinload(Dispute.invoice).selectinload(Invoice.company))
        .order_by(*ordering, Dispute.id)
    ))


def dispute_refusal(session: Session, invoice: Invoice) -> DisputeConflict | None:
    """Why `invoice` cannot be disputed now, or None when it can."""
    if invoice.issued_at is None or invoice.voided_at is not None:
        return DisputeConflict(f"invoice {invoice.number} is not issued or is void", code="not_disputable")
    if amount_owed(invoice) <= 0:
        return DisputeConflict(f"nothing is due on invoice {invoice.number}", code="nothing_due")
    if active_dispute(session, invoice.id) is not None:
        return DisputeConflict(f"invoice {invoice.number} already has a dispute in progress", code="already_disputed")
    if payment_in_flight(session, invoice.id):
        # A card payment in flight was sized on today's amount due: holding part of it back
        # now could leave that payment settling the disputed part.
        return DisputeConflict("a card payment of this invoice is in progress", code="payment_in_progress")
    return None


# The customer's steps ---------------------------------------------------------------------------


def raise_dispute(session: Session, context: DisputeContext, user: User, *, invoice: Invoice,
                  claim: DisputeClaim) -> Dispute:
    """Open a dispute on (part of) `invoice` for the clerk `user`, with its first message and files."""
    _require_customer_party(user, invoice.company_id)
    invoice = _locked_invoice(session, invoice.id)
    refusal = dispute_refusal(session, invoice)
    if refusal is not None:
        raise refusal
    reason = _reason(claim.reason)
    body = _text(claim.message, "message", MAX_MESSAGE_LENGTH)
    lines, amount = _disputed_part(invoice, claim)
    files = _checked_files(context, claim.uploads)

    dispute = Dispute(
        invoice_id=invoice.id, company_id=invoice.company_id, raised_by_user_id=user.id, reason=reason,
        status=DisputeStatus.OPEN, disputed_amount=amount, currency=invoice.currency,
        lines=[DisputeLine(invoice_line_id=line.id, amount=line.amount_total) for line in lines],
    )
    message = DisputeMessage(author_user_id=user.id, from_staff=False, body=body)
    dispute.messages.append(message)
    try:
        with session.begin_nested():
            session.add(dispute)
            session.flush()
    except IntegrityError:
        # Another clerk's dispute on this invoice won the race to the unique index.
        raise DisputeConflict(f"invoice {invoice.number} already has a dispute in progress",
                              code="already_disputed") from None
    _attach(session, context, message, files)
    audit.record(
        session, "dispute.raised", Actor.user(user), company_id=invoice.company_id, invoice_id=invoice.id,
        amount=amount, currency=invoice.currency, dispute_id=dispute.id, reason=reason,
        lines=[line.position for line in lines], attachments=len(files),
    )
    _tell_collections(session, context, "dispute_opened", dispute, message=message, author=user)
    session.expire(invoice, ["disputes"])
    return dispute


def post_message(session: Session, context: DisputeContext, author: User, dispute: Dispute, *, body: str,
                 uploads: tuple[Upload, ...] = (), ask_customer: bool = False) -> DisputeMessage:
    """Add a message to the dispute's thread and tell the other side by e-mail.

    A customer's message on a dispute awaiting them hands it back to the collections team; a
    team message with `ask_customer` puts it in the customer's hands (awaiting_customer).
    """
    if author.is_staff:
        actor_side = "staff"
    else:
        _require_customer_party(author, dispute.company_id)
        actor_side = "customer"
        if ask_customer:
            raise NotAllowed("only the collections team asks for more information")
    dispute = _locked_active(session, dispute)
    text = _text(body, "message", MAX_MESSAGE_LENGTH)
    files = _checked_files(context, uploads)
    message = DisputeMessage(dispute_id=dispute.id, author_user_id=author.id, from_staff=author.is_staff, body=text)
    session.add(message)
    session.flush()
    _attach(session, context, message, files)

    action = "dispute.message"
    if actor_side == "staff" and ask_customer:
        action = "dispute.information_requested"
        dispute.status = DisputeStatus.AWAITING_CUSTOMER
    elif actor_side == "customer" and dispute.status == DisputeStatus.AWAITING_CUSTOMER:
        action = "dispute.answered"
        dispute.status = DisputeStatus.OPEN
    dispute.updated_at = utcnow()
    audit.record(
        session, action, Actor.user(author), company_id=dispute.company_id, invoice_id=dispute.invoice_id,
        dispute_id=dispute.id, message_id=message.id, from_staff=author.is_staff, attachments=len(files),
    )
    if actor_side == "staff":
        _tell_customer(session, context, "dispute_team_message", dispute, message=message,
                       awaiting=dispute.status == DisputeStatus.AWAITING_CUSTOMER)
    else:
        _tell_collections(session, context, "dispute_customer_message", dispute, message=message, author=author)
    return message


def withdraw_dispute(session: Session, context: DisputeContext, user: User, dispute: Dispute) -> Dispute:
    """The customer drops the dispute: what it held back is due again."""
    _require_customer_party(user, dispute.company_id)
    dispute = _locked_active(session, dispute)
    _close(dispute, DisputeStatus.WITHDRAWN)
    audit.record(
        session, "dispute.withdrawn", Actor.user(user), company_id=dispute.company_id,
        invoice_id=dispute.invoice_id, amount=dispute.disputed_amount, currency=dispute.currency,
        dispute_id=dispute.id,
    )
    _tell_collections(session, context, "dispute_withdrawn", dispute, author=user)
    return dispute


# The collections team's steps -------------------------------------------------------------------


def accept_with_credit_note(session: Session, context: DisputeContext, staff: User, dispute: Dispute, *,
                            amount: int, credit_note_number: str, issue_date: date, note: str = "") -> CreditNote:
    """Resolve the dispute by crediting `amount` (at most what was disputed) on its invoice."""
    _require_staff(staff)
    dispute = _locked_active(session, dispute)
    invoice = _locked_invoice(session, dispute.invoice_id)
    number = _text(credit_note_number, "credit_note_number", 64)
    note = (note or "").strip()[:MAX_NOTE_LENGTH]
    if amount <= 0:
        raise InvalidDispute("a credit note's amount must be positive", code="amount_not_positive", field="amount")
    if amount > dispute.disputed_amount:
        raise InvalidDispute("the credit note exceeds the disputed amount", code="credit_above_disputed",
                             field="amount")
    if amount > invoice.amount_due:
        raise InvalidDispute("the credit note exceeds what is still due", code="amount_above_due", field="amount")
    if session.scalar(select(CreditNote.id).where(CreditNote.number == number)) is not None:
        raise InvalidDispute(f"credit note {number} already exists", code="credit_note_number_taken",
                             field="credit_note_number")
    actor = Actor.user(staff)
    try:
        credit_note = issue_credit_note(session, actor, invoice=invoice, number=number, amount=amount,
                                        issue_date=issue_date, reason=note)
    except InvoiceConflict as error:
        raise DisputeConflict(str(error), code=error.code) from error
    except InvalidInvoice as error:
        raise InvalidDispute(str(error), field="amount") from error
    session.flush()
    dispute.credit_note_id = credit_note.id
    dispute.resolution_note = note or None
    _close(dispute, DisputeStatus.RESOLVED_CREDITED)
    audit.record(
        session, "dispute.credited", actor, company_id=dispute.company_id, invoice_id=dispute.invoice_id,
        amount=amount, currency=dispute.currency, dispute_id=dispute.id, credit_note=number,
    )
    session.expire(invoice, ["disputes"])
    _tell_customer(session, context, "dispute_resolved", dispute, credit_note=credit_note)
    return credit_note


def reject_dispute(session: Session, context: DisputeContext, staff: User, dispute: Dispute, *,
                   reason: str) -> Dispute:
    """Resolve the dispute by refusing it, saying why: what it held back is due again."""
    _require_staff(staff)
    dispute = _locked_active(session, dispute)
    dispute.resolution_note = _text(reason, "reason", MAX_NOTE_LENGTH)
    _close(dispute, DisputeStatus.REJECTED)
    audit.record(
        session, "dispute.rejected", Actor.user(staff), company_id=dispute.company_id,
        invoice_id=dispute.invoice_id, amount=dispute.disputed_amount, currency=dispute.currency,
        dispute_id=dispute.id, reason=dispute.resolution_note,
    )
    _tell_customer(session, context, "dispute_resolved", dispute, credit_note=None)
    return dispute


def close_for_voided_invoice(session: Session, context: DisputeContext, actor: Actor, invoice: Invoice) -> None:
    """The supplier cancelled `invoice`: its active dispute, if any, has nothing left to decide."""
    dispute = active_dispute(session, invoice.id)
    if dispute is None:
        return
    dispute = _locked_active(session, dispute)
    dispute.resolution_note = invoice.void_reason or None
    _close(dispute, DisputeStatus.INVOICE_VOIDED)
    audit.record(
        session, "dispute.closed_invoice_voided", actor, company_id=dispute.company_id,
        invoice_id=dispute.invoice_id, amount=dispute.disputed_amount, currency=dispute.currency,
        dispute_id=dispute.id,
    )
    _tell_customer(session, context, "dispute_resolved", dispute, credit_note=None, invoice_voided=True)


# Rules and pieces -------------------------------------------------------------------------------


def _require_customer_party(user: User, company_id: int) -> None:
    if not user.is_clerk or user.company_id != company_id:
        raise DisputeNotFound("not a dispute of the user's company")
    if not user.can(Action.DISPUTE):
        raise NotAllowed("only an admin or payer of the company takes part in disputes")


def _require_staff(user: User) -> None:
    if not user.is_staff:
        raise NotAllowed("only the collections team resolves disputes")


def _locked_invoice(session: Session, invoice_id: int) -> Invoice:
    # The same row lock a payment takes: a dispute and a payment of one invoice go one at a time.
    return session.scalars(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update().execution_options(populate_existing=True)
    ).one()


def _locked_active(session: Session, dispute: Dispute) -> Dispute:
    """`dispute` re-read under a row lock; refused unless still active (two people may act at once)."""
    locked = session.scalars(
        select(Dispute).where(Dispute.id == dispute.id).with_for_update().execution_options(populate_existing=True)
    ).one()
    if not locked.is_active:
        raise DisputeConflict(f"dispute {dispute.id} is closed", code="closed")
    return locked


def _close(dispute: Dispute, status: DisputeStatus) -> None:
    dispute.status = status
    dispute.resolved_at = dispute.updated_at = utcnow()


def _reason(value: str) -> str:
    try:
        return DisputeReason(value).value
    except ValueError:
        raise InvalidDispute(f"{value!r} is not a dispute reason", code="unknown_reason", field="reason") from None


def _text(value: str | None, field: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidDispute(f"the {field} is empty", code="empty", field=field)
    if len(text) > max_length:
        raise InvalidDispute(f"the {field} is longer than {max_length} characters", code="too_long", field=field)
    return text


def _disputed_part(invoice: Invoice, claim: DisputeClaim) -> tuple[list, int]:
    """The invoice lines disputed (maybe none) and the amount: the lines' totals, the amount given, or all due."""
    lines = []
    if claim.line_ids:
        if claim.amount is not None:
            raise InvalidDispute("choose lines or an amount, not both", code="lines_and_amount", field="amount")
        by_id = {line.id: line for line in invoice.lines}
        if not set(claim.line_ids) <= by_id.keys():
            raise InvalidDispute("a chosen line is not on this invoice", code="unknown_line", field="lines")
        lines = sorted((by_id[line_id] for line_id in set(claim.line_ids)), key=lambda line: line.position)
        if any(line.amount_total <= 0 for line in lines):
            raise InvalidDispute("a chosen line has no amount", code="amount_not_positive", field="lines")
        amount = sum(line.amount_total for line in lines)
    else:
        amount = invoice.amount_due if claim.amount is None else claim.amount
    if amount <= 0:
        raise InvalidDispute("the disputed amount must be positive", code="amount_not_positive", field="amount")
    if amount > invoice.amount_due:
        raise InvalidDispute("the disputed amount exceeds what is still due", code="amount_above_due",
                             field="lines" if lines else "amount")
    return lines, amount


def _checked_files(context: DisputeContext, uploads: tuple[Upload, ...]) -> list[CheckedFile]:
    """Every upload read and checked before anything is written: one refused file keeps them all out."""
    if len(uploads) > MAX_FILES_PER_MESSAGE:
        raise AttachmentRefused(f"at most {MAX_FILES_PER_MESSAGE} files per message", code="too_many_files",
                                count=MAX_FILES_PER_MESSAGE,
                                field="attachments")
    return [check_upload(upload, max_bytes=context.max_attachment_bytes) for upload in uploads]


def _attach(session: Session, context: DisputeContext, message: DisputeMessage, files: list[CheckedFile]) -> None:
    for file in files:
        message.attachments.append(DisputeAttachment(
            filename=file.display_name, content_type=file.content_type, size=len(file.data), sha256=file.sha256,
            storage_key=context.store.save(file.data),
        ))
    session.flush()


def _tell_collections(session: Session, context: DisputeContext, template: str, dispute: Dispute, *,
                      author: User, message: DisputeMessage | None = None) -> None:
    if not context.collections_email:
        log.info("No ACQUIT_COLLECTIONS_EMAIL: the collections team is not e-mailed about dispute %s", dispute.id)
        return
    invoice = session.get(Invoice, dispute.invoice_id)
    email = compose.render(
        template, context.staff_locale, dispute=dispute, invoice=invoice, company=invoice.company, author=author,
        message=message, attachment_count=len(message.attachments) if message else 0,
        supplier_name=context.supplier_name, dispute_url=f"{context.base_url}/collections/disputes/{dispute.id}",
    )
    outbox.enqueue(session, [context.collections_email], email)


def _tell_customer(session: Session, context: DisputeContext, template: str, dispute: Dispute, **details) -> None:
    invoice = session.get(Invoice, dispute.invoice_id)
    company = session.get(Company, dispute.company_id)
    raised_by = session.get(User, dispute.raised_by_user_id)
    # Disputes are about invoices: the clerk who raised it and the addresses that receive invoices hear of it.
    invoice_recipients = recipients_for(session, company.id, RecipientPurpose.INVOICES)
    recipients = unique_addresses(([raised_by.email] if raised_by.is_active else [])
                                  + [recipient.email for recipient in invoice_recipients])
    if not recipients:
        return
    email = compose.render(
        template, compose.company_locale(company), dispute=dispute, invoice=invoice, company=company,
        supplier_name=context.supplier_name, dispute_url=f"{context.base_url}/disputes/{dispute.id}",
        amount_due=undisputed_amount_due(session, invoice), **details,
    )
    outbox.enqueue(session, recipients, email)
