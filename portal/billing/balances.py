"""Keeping an invoice's paid and credited amounts in step with the rows that make them."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.billing.errors import OverSettlement
from portal.models import CreditNote, Invoice, Payment, PaymentAllocation, PaymentStatus, Refund, RefundStatus


def refresh_invoice_balance(session: Session, invoice: Invoice) -> None:
    """Recompute `amount_paid` (received less refunded) and `amount_credited` from their rows.

    Always summed from the source rows, never incremented, so a retried or replayed event
    cannot count twice. Raises `OverSettlement` if they would exceed the invoice total.
    """
    session.flush()
    received = session.execute(
        select(func.coalesce(func.sum(PaymentAllocation.amount), 0))
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(PaymentAllocation.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED)
    ).scalar_one()
    refunded = session.execute(
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(PaymentAllocation, PaymentAllocation.id == Refund.allocation_id)
        .where(PaymentAllocation.invoice_id == invoice.id, Refund.status == RefundStatus.SUCCEEDED)
    ).scalar_one()
    paid = received - refunded
    credited = session.execute(
        select(func.coalesce(func.sum(CreditNote.amount), 0)).where(CreditNote.invoice_id == invoice.id)
    ).scalar_one()
    if paid + credited > invoice.amount_total:
        raise OverSettlement(
            f"invoice {invoice.number} would be settled {paid + credited} of {invoice.amount_total}"
        )
    invoice.amount_paid = paid
    invoice.amount_credited = credited
