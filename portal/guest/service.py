"""Paying invoices from a PAY NOW link (one invoice, or several from a reminder), with no account; e-mailing links.

The same guarantees as a signed-in payment hold (see portal.payments.charging): the guest
path only differs in where the card comes from (entered now, not saved) and in the limits
a link that may have leaked needs: views and attempts per link and per address, and a rest
after repeated declines.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import audit, throttle
from portal.accounts.recipients import recipients_for
from portal.audit import Actor
from portal.billing.payable import amount_owed, disputed_amounts, undisputed_amounts_due
from portal.guest.errors import PayLinkLocked
from portal.guest.links import PayLinks
from portal.mail import outbox
from portal.models import Invoice, Payment, PaymentAllocation, PaymentChannel, PaymentStatus, RecipientPurpose
from portal.models.types import utcnow
from portal.payments.cards import card_summary
from portal.payments.charging import ChargeSource, PaymentRequest, charge_invoices
from portal.payments.context import PaymentContext
from portal.payments.errors import PaymentNotAllowed


@dataclass(frozen=True)
class GuestLimits:
    """How much a single link, or a single address, may do per hour; and the rest after declines."""

    views_per_link: int = 120
    views_per_address: int = 300
    attempts_per_link: int = 10
    attempts_per_address: int = 20
    declines_before_rest: int = 3
    rest: timedelta = timedelta(hours=1)
    window: timedelta = timedelta(hours=1)


def check_view_allowed(session: Session, *, token: str, ip_address: str, limits: GuestLimits,
                       now: datetime | None = None) -> None:
    """Count a view of a guest page; `PayLinkLocked` past the limits for this link or address."""
    if not (throttle.allow(session, "guest.view.link", token[-40:], limit=limits.views_per_link,
                           window=limits.window, now=now)
            and throttle.allow(session, "guest.view.ip", ip_address, limit=limits.views_per_address,
                               window=limits.window, now=now)):
        raise PayLinkLocked("Too many requests for this link. Please try again in an hour.", code="pay_link_busy")


def pay_as_guest(session: Session, context: PaymentContext, *, invoice: Invoice, token: str, setup_id: str,
                 attempt_key: str, amount: int | None, receipt_email: str, ip_address: str, limits: GuestLimits,
                 now: datetime | None = None) -> Payment:
    """Charge the card a guest just entered for `invoice` (all that is due, or `amount`)."""
    now = now or utcnow()
    idempotency_key = f"guest-{invoice.id}-{attempt_key}"
    existing = session.scalar(select(Payment).where(Payment.idempotency_key == idempotency_key))
    if existing is not None:
        return existing
    actor = Actor(label=f"guest:{receipt_email}")
    if is_resting(session, invoice, limits=limits, now=now):
        audit.record(session, "guest.locked", actor, company_id=invoice.company_id, invoice_id=invoice.id,
                     ip=ip_address)
        session.commit()
        raise PayLinkLocked("This link is resting after several declined cards. Please try again in an hour, "
                            "or contact us.")
    if not (throttle.allow(session, "guest.pay.link", token[-40:], limit=limits.attempts_per_link,
                           window=limits.window, now=now)
            and throttle.allow(session, "guest.pay.ip", ip_address, limit=limits.attempts_per_address,
                               window=limits.window, now=now)):
        raise PayLinkLocked("Too many payment attempts. Please try again in an hour.", code="pay_link_busy")
    card = context.gateway.finish_card_setup(customer_id=None, setup_id=setup_id)
    source = ChargeSource(customer_id=None, card_id=card.provider_id, channel=PaymentChannel.GUEST,
                          summary=card_summary(card))
    return charge_invoices(
        session, context, actor, company=invoice.company, source=source, idempotency_key=idempotency_key,
        request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key=attempt_key, amount=amount),
        receipt_email=receipt_email,
    )


@dataclass(frozen=True)
class PayableInvoice:
    """One invoice of a several-invoice link as its page shows it: what will be charged, and what a dispute holds back."""

    invoice: Invoice
    amount: int
    disputed: int


def payable_invoices(session: Session, invoices: list[Invoice]) -> list[PayableInvoice]:
    """Of a link's invoices, those with something to pay now (paid, void and wholly disputed ones left out)."""
    payable = undisputed_amounts_due(session, invoices)
    held = disputed_amounts(session, [invoice.id for invoice in invoices])
    return [PayableInvoice(invoice, payable[invoice.id], min(held.get(invoice.id, 0), amount_owed(invoice)))
            for invoice in invoices if payable[invoice.id] > 0]


def pay_several_as_guest(session: Session, context: PaymentContext, *, shown: list[tuple[int, int]],
                         link_invoices: list[Invoice], token: str, setup_id: str, attempt_key: str,
                         receipt_email: str, ip_address: str, limits: GuestLimits,
                         now: datetime | None = None) -> Payment:
    """Charge the card a guest just entered for the invoices of a several-invoice link, in one payment.

    `shown` is the (invoice id, amount) pairs the page showed: exactly those are charged, or
    nothing (`PaymentNotAllowed`) if what is due has changed since, so the amount charged is
    always the amount the payer saw.
    """
    now = now or utcnow()
    company = link_invoices[0].company
    idempotency_key = f"guest-several-{company.id}-{attempt_key}"
    existing = session.scalar(select(Payment).where(Payment.idempotency_key == idempotency_key))
    if existing is not None:
        return existing
    allowed = {invoice.id for invoice in link_invoices}
    if not shown or any(invoice_id not in allowed for invoice_id, _ in shown):
        raise PaymentNotAllowed("What is due on these invoices has just changed. Check it and try again.")
    actor = Actor(label=f"guest:{receipt_email}")
    invoice_ids = [invoice_id for invoice_id, _ in shown]
    if _recent_declines(session, invoice_ids, since=now - limits.rest) >= limits.declines_before_rest:
        audit.record(session, "guest.locked", actor, company_id=company.id, invoice_id=invoice_ids[0],
                     ip=ip_address)
        session.commit()
        raise PayLinkLocked("This link is resting after several declined cards. Please try again in an hour, "
                            "or contact us.")
    if not (throttle.allow(session, "guest.pay.link", token[-40:], limit=limits.attempts_per_link,
                           window=limits.window, now=now)
            and throttle.allow(session, "guest.pay.ip", ip_address, limit=limits.attempts_per_address,
                               window=limits.window, now=now)):
        raise PayLinkLocked("Too many payment attempts. Please try again in an hour.", code="pay_link_busy")
    card = context.gateway.finish_card_setup(customer_id=None, setup_id=setup_id)
    source = ChargeSource(customer_id=None, card_id=card.provider_id, channel=PaymentChannel.GUEST,
                          summary=card_summary(card))
    return charge_invoices(
        session, context, actor, company=company, source=source, idempotency_key=idempotency_key,
        request=PaymentRequest(invoice_ids=tuple(invoice_ids), attempt_key=attempt_key,
                               expected_amounts=tuple(amount for _, amount in shown)),
        receipt_email=receipt_email,
    )


def several_guest_payment(session: Session, invoices: list[Invoice], payment_id: int) -> Payment | None:
    """A payment made from a several-invoice link: a guest payment settling one of its invoices."""
    return session.scalar(
        select(Payment)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .where(Payment.id == payment_id, PaymentAllocation.invoice_id.in_([invoice.id for invoice in invoices]),
               Payment.channel == PaymentChannel.GUEST)
        .limit(1)
    )


def is_resting(session: Session, invoice: Invoice, *, limits: GuestLimits, now: datetime | None = None) -> bool:
    """Whether the link rests after too many declined cards: the page says so before a card is typed."""
    now = now or utcnow()
    return _recent_declines(session, [invoice.id], since=now - limits.rest) >= limits.declines_before_rest


def _recent_declines(session: Session, invoice_ids: list[int], *, since: datetime) -> int:
    return session.execute(
        select(func.count(func.distinct(Payment.id)))
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .where(PaymentAllocation.invoice_id.in_(invoice_ids), Payment.channel == PaymentChannel.GUEST,
               Payment.status == PaymentStatus.FAILED, Payment.created_at >= since)
    ).scalar_one()


def guest_payment(session: Session, invoice: Invoice, payment_id: int) -> Payment | None:
    """A payment of `invoice` made from its link: all a link may show of payments."""
    return session.scalar(
        select(Payment)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .where(Payment.id == payment_id, PaymentAllocation.invoice_id == invoice.id,
               Payment.channel == PaymentChannel.GUEST)
    )


def last_payment(session: Session, invoice: Invoice) -> Payment | None:
    """The latest succeeded payment of `invoice`, for "paid on …" pages."""
    return session.scalar(
        select(Payment)
        .join(PaymentAllocation, PaymentAllocation.payment_id == Payment.id)
        .where(PaymentAllocation.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED)
        .order_by(Payment.succeeded_at.desc())
        .limit(1)
    )


def send_invoice_email(session: Session, actor: Actor, invoice: Invoice, *, links: PayLinks,
                       supplier_name: str, now: datetime | None = None) -> int:
    """E-mail the invoice and a PAY NOW link to each recipient of its company who receives invoices,
    with the document each chose attached (or none for "link only"); returns how many were written."""
    company = invoice.company
    link = links.link_for(invoice, now=now)
    recipients = recipients_for(session, company.id, RecipientPurpose.INVOICES)
    for recipient in recipients:
        message = outbox.invoice_email(session, invoice, link=link, supplier_name=supplier_name,
                                       attached=recipient.wants_attachment)
        outbox.enqueue(session, [recipient.email], message, locale=company.locale,
                       attach_invoice_id=invoice.id if recipient.wants_attachment else None,
                       attach_format=recipient.invoice_format)
    audit.record(session, "invoice.sent", actor, company_id=company.id, invoice_id=invoice.id,
                 recipients=len(recipients))
    return len(recipients)
