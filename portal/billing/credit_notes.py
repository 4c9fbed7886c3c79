"""Credit notes from the supplier's ERP, recorded once per number."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.billing.api_queries import invoice_by_number
from portal.billing.errors import InvoiceConflict
from portal.billing.invoices import issue_credit_note, lock_invoice
from portal.db import insert_unless_raced
from portal.models import CreditNote


@dataclass(frozen=True)
class CreditNoteData:
    number: str
    invoice_number: str
    amount: int
    issue_date: date
    reason: str = ""


def record_credit_note(session: Session, actor: Actor, data: CreditNoteData) -> tuple[CreditNote, str]:
    """Apply the credit note unless its number is already recorded; a different one under that number is refused.

    The same note sent twice at once is recorded once: the invoice's lock makes the second
    wait, then find the first; the same number for two invoices meets the unique constraint.
    """

    def find() -> CreditNote | None:
        return session.scalar(select(CreditNote).where(CreditNote.number == data.number))

    existing = find()
    if existing is None:
        invoice = invoice_by_number(session, data.invoice_number)
        lock_invoice(session, invoice)
        existing = find()
    if existing is None:
        recorded, created = insert_unless_raced(session, lambda: issue_credit_note(
            session, actor, invoice=invoice, number=data.number, amount=data.amount, issue_date=data.issue_date,
            reason=data.reason,
        ), find)
        if created:
            return recorded, "created"
        existing = recorded
    if (existing.invoice.number, existing.amount) != (data.invoice_number, data.amount):
        raise InvoiceConflict(
            "a different credit note was already recorded under this number", code="credit_note_exists",
            field="number",
        )
    return existing, "unchanged"
