"""An invoice's status, derived from its dates, what has been paid and credited, and disputes.

The same rule is written twice, once for Python objects and once as SQL for filtering the
list; `tests/billing/test_status.py` checks that the two always agree.
"""

import enum
from datetime import date

from sqlalchemy import case, exists
from sqlalchemy.sql.elements import ColumnElement

from portal.models import Dispute, Invoice


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    CREDITED = "credited"  # reduced by a credit note, nothing paid yet
    PAID = "paid"
    OVERDUE = "overdue"
    VOID = "void"
    DISPUTED = "disputed"


#: Statuses a customer can filter on (drafts are never shown to customers).
CUSTOMER_STATUSES = (
    InvoiceStatus.OPEN,
    InvoiceStatus.PARTIALLY_PAID,
    InvoiceStatus.CREDITED,
    InvoiceStatus.OVERDUE,
    InvoiceStatus.DISPUTED,
    InvoiceStatus.PAID,
    InvoiceStatus.VOID,
)


def invoice_status(invoice: Invoice, today: date) -> InvoiceStatus:
    """The status of `invoice` on `today`: void, draft, paid, disputed, overdue, partially paid, credited or open.

    An issued, unpaid, non-void invoice with an active dispute is disputed, however late it is.
    """
    if invoice.voided_at is not None:
        return InvoiceStatus.VOID
    if invoice.issued_at is None:
        return InvoiceStatus.DRAFT
    if invoice.amount_due <= 0:
        return InvoiceStatus.PAID
    if invoice.has_active_dispute:
        return InvoiceStatus.DISPUTED
    if invoice.due_date < today:
        return InvoiceStatus.OVERDUE
    if invoice.amount_paid > 0:
        return InvoiceStatus.PARTIALLY_PAID
    if invoice.amount_credited > 0:
        return InvoiceStatus.CREDITED
    return InvoiceStatus.OPEN


def status_expression(today: date) -> ColumnElement[str]:
    """`invoice_status` as a SQL expression over the invoice table."""
    amount_due = Invoice.amount_total - Invoice.amount_paid - Invoice.amount_credited
    has_active_dispute = exists().where(Dispute.invoice_id == Invoice.id, Dispute.is_active)
    return case(
        (Invoice.voided_at.is_not(None), InvoiceStatus.VOID.value),
        (Invoice.issued_at.is_(None), InvoiceStatus.DRAFT.value),
        (amount_due <= 0, InvoiceStatus.PAID.value),
        (has_active_dispute, InvoiceStatus.DISPUTED.value),
        (Invoice.due_date < today, InvoiceStatus.OVERDUE.value),
        (Invoice.amount_paid > 0, InvoiceStatus.PARTIALLY_PAID.value),
        (Invoice.amount_credited > 0, InvoiceStatus.CREDITED.value),
        else_=InvoiceStatus.OPEN.value,
    )


def amount_due_expression() -> ColumnElement[int]:
    """What is still owed on an invoice, as SQL; void and draft invoices owe nothing."""
    return case(
        (Invoice.voided_at.is_not(None), 0),
        (Invoice.issued_at.is_(None), 0),
        else_=Invoice.amount_total - Invoice.amount_paid - Invoice.amount_credited,
    )


def open_invoice_condition() -> ColumnElement[bool]:
    """An issued, non-void invoice with something still due: what balances, aging and "what you owe" look at.

    Written on the columns themselves (not `amount_due_expression() > 0`), term for term as
    `ix_invoice_open`'s condition, so SQLite and PostgreSQL read those invoices from that partial
    index. SQLite matches terms literally after putting a lone column first in a comparison:
    hence `amount_total > …`, never `… < amount_total`.
    """
    return (Invoice.issued_at.is_not(None) & Invoice.voided_at.is_(None)
            & (Invoice.amount_total > Invoice.amount_paid + Invoice.amount_credited))


def status_condition(status: InvoiceStatus, today: date) -> ColumnElement[bool]:
    """Invoices whose status on `today` is `status`, with what that status implies written out
    as `ix_invoice_open`'s terms: an overdue invoice is an open one due before today, so the
    list reads the few open invoices from that index rather than every invoice of the company."""
    condition = status_expression(today) == status.value
    if status == InvoiceStatus.OVERDUE:
        return open_invoice_condition() & (Invoice.due_date < today) & condition
    if status == InvoiceStatus.DISPUTED:
        return open_invoice_condition() & condition
    if status in (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.CREDITED):
        return open_invoice_condition() & (Invoice.due_date >= today) & condition
    return condition
