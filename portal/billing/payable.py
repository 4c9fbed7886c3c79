"""What is owed on an invoice and what may be asked for or charged on it now.

Payments, guest pay, disputes, reminders and autopay all ask here, so they agree:
- a draft or void invoice owes nothing;
- an active dispute holds its amount back from being asked for or charged;
- while a card payment of an invoice is in flight (it holds the invoice's claim), nothing
  may change what is owed on it: not another payment, a credit note, a void, a new dispute
  or new amounts from the ERP.
"""

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from portal.billing.status import amount_due_expression
from portal.models import Dispute, Invoice, InvoicePaymentClaim


def amount_owed(invoice: Invoice) -> int:
    """What the customer still owes on `invoice`, disputes aside: nothing on a draft or a void invoice."""
    if invoice.voided_at is not None or invoice.issued_at is None:
        return 0
    return max(0, invoice.amount_due)


def payment_in_flight(session: Session, invoice_id: int) -> bool:
    """Whether a card payment of the invoice has started and not yet ended."""
    return session.get(InvoicePaymentClaim, invoice_id) is not None


def disputed_amount_expression() -> ColumnElement[int]:
    """What active disputes hold back on each invoice, as SQL correlated to the invoice row (0 if none)."""
    return (
        select(func.coalesce(func.sum(Dispute.disputed_amount), 0))
        .where(Dispute.invoice_id == Invoice.id, Dispute.is_active)
        .correlate(Invoice)
        .scalar_subquery()
    )


def undisputed_amount_due_expression() -> ColumnElement[int]:
    """`undisputed_amount_due` as SQL over the invoice table, for reminders and autopay to select on."""
    remainder = amount_due_expression() - disputed_amount_expression()
    return case((remainder > 0, remainder), else_=0)


def disputed_amounts(session: Session, invoice_ids: list[int]) -> dict[int, int]:
    """What active disputes hold back, by invoice id; invoices with none are left out."""
    if not invoice_ids:
        return {}
    rows = session.execute(
        select(Dispute.invoice_id, func.sum(Dispute.disputed_amount))
        .where(Dispute.invoice_id.in_(set(invoice_ids)), Dispute.is_active)
        .group_by(Dispute.invoice_id)
    ).all()
    return {invoice_id: int(total) for invoice_id, total in rows}


def undisputed_amounts_due(session: Session, invoices: list[Invoice]) -> dict[int, int]:
    """`undisputed_amount_due` of several invoices at once, by invoice id."""
    held = disputed_amounts(session, [invoice.id for invoice in invoices])
    return {invoice.id: max(0, amount_owed(invoice) - held.get(invoice.id, 0)) for invoice in invoices}


def undisputed_amount_due(session: Session, invoice: Invoice) -> int:
    """What may be asked for or charged on `invoice` now: what is owed less what an active dispute holds back."""
    return undisputed_amounts_due(session, [invoice])[invoice.id]
