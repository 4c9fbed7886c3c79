"""Writing invoices and credit notes: create, issue, void, credit. Every change is audited."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.balances import refresh_invoice_balance
from portal.billing.errors import InvalidInvoice, InvoiceConflict
from portal.billing.lines import line_amounts
from portal.billing.money import is_iso_currency
from portal.billing.payable import payment_in_flight
from portal.models import Company, CreditNote, Invoice, InvoiceLine
from portal.models.types import utcnow

# Far above any real invoice, and far below what a BIGINT column (and a JSON number read as
# a double, 2**53) can hold: a larger total is a typing error, not a sale.
MAX_INVOICE_TOTAL = 10**13
QUANTITY_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: Decimal
    unit_amount: int
    tax_rate: Decimal


def create_invoice(
    session: Session,
    actor: Actor,
    *,
    company: Company,
    number: str,
    issue_date: date,
    due_date: date,
    currency: str,
    lines: list[LineInput],
    po_number: str | None = None,
    custom_fields: dict | None = None,
    issue: bool = True,
    now: datetime | None = None,
) -> Invoice:
    """Create an invoice with its lines, computing its amounts; issue it unless `issue=False`."""
    check_invoice_terms(number, issue_date, due_date, currency, lines)
    created_at = now or utcnow()
    invoice = Invoice(
        company=company,
        number=number,
        po_number=po_number or None,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        custom_fields=dict(custom_fields or {}),
        amount_paid=0,
        amount_credited=0,
        # Issued as it is inserted: one statement, not an INSERT then an UPDATE.
        issued_at=created_at if issue else None,
        # A new invoice has none, and the dispute service expires this when it adds one:
        # reading its status then costs no query.
        disputes=[],
    )
    set_invoice_lines(invoice, lines)
    session.add(invoice)
    session.flush()
    created = audit.Entry("invoice.created", company_id=company.id, invoice_id=invoice.id, amount=invoice.amount_total,
                          currency=currency, occurred_at=created_at, details={"number": number})
    audit.record_all(session, actor, [created, _issued_entry(invoice)] if issue else [created])
    return invoice


def issue_invoice(session: Session, actor: Actor, invoice: Invoice, *, now: datetime | None = None) -> None:
    """Make a draft invoice visible to its customer."""
    if invoice.issued_at is not None:
        return
    invoice.issued_at = now or utcnow()
    audit.record_all(session, actor, [_issued_entry(invoice)])


def _issued_entry(invoice: Invoice) -> audit.Entry:
    return audit.Entry("invoice.issued", company_id=invoice.company_id, invoice_id=invoice.id,
                       amount=invoice.amount_total, currency=invoice.currency, occurred_at=invoice.issued_at)


def void_invoice(
    session: Session, actor: Actor, invoice: Invoice, reason: str, *, now: datetime | None = None
) -> None:
    """Cancel an invoice; it stays visible, owes nothing, and keeps its history."""
    lock_invoice(session, invoice)
    if invoice.voided_at is not None:
        return
    if invoice.amount_paid > 0:
        raise InvoiceConflict("an invoice with payments cannot be voided; refund them first",
                              code="invoice_has_payments")
    refuse_while_being_paid(session, invoice)
    invoice.voided_at = now or utcnow()
    invoice.void_reason = reason
    audit.record(
        session, "invoice.voided", actor, company_id=invoice.company_id, invoice_id=invoice.id,
        amount=invoice.amount_total, currency=invoice.currency, occurred_at=invoice.voided_at, reason=reason,
    )


def issue_credit_note(
    session: Session,
    actor: Actor,
    *,
    invoice: Invoice,
    number: str,
    amount: int,
    issue_date: date,
    reason: str = "",
    now: datetime | None = None,
) -> CreditNote:
    """Credit `amount` against `invoice`; refused beyond what is still due."""
    if amount <= 0:
        raise InvalidInvoice("a credit note's amount must be positive", field="amount")
    lock_invoice(session, invoice)
    if invoice.voided_at is not None:
        raise InvalidInvoice("a void invoice cannot be credited", field="invoice")
    if amount > invoice.amount_due:
        raise InvalidInvoice("a credit note cannot exceed the amount due on the invoice", field="amount")
    refuse_while_being_paid(session, invoice)
    credit_note = CreditNote(
        number=number,
        company_id=invoice.company_id,
        invoice=invoice,
        issue_date=issue_date,
        amount=amount,
        currency=invoice.currency,
        reason=reason,
    )
    session.add(credit_note)
    refresh_invoice_balance(session, invoice)
    audit.record(
        session, "credit_note.applied", actor, company_id=invoice.company_id, invoice_id=invoice.id,
        amount=amount, currency=invoice.currency, occurred_at=now, credit_note=number, reason=reason,
    )
    return credit_note


def lock_invoice(session: Session, invoice: Invoice) -> None:
    """Take `invoice`'s row lock and read it afresh: decide on a change to what it owes only after this.

    Payments and disputes take the same lock before they claim an invoice, so a payment
    starting at the same moment has either committed its claim (which the checks then see)
    or waits for this transaction and is sized on the invoice as it leaves it. PostgreSQL
    locks the row (FOR UPDATE); SQLite has no row locks, and its writers are serialized
    instead by the write lock a writing transaction takes first (`portal.db.begin_write`).
    """
    session.scalars(
        select(Invoice).where(Invoice.id == invoice.id).with_for_update().execution_options(populate_existing=True)
    ).one()


def refuse_while_being_paid(session: Session, invoice: Invoice) -> None:
    """Refuse (`payment_in_progress`) to change what `invoice` owes while a card payment of it is in flight.

    Call it with the invoice locked (`lock_invoice`).
    """
    # A card payment in flight was sized on today's amount due: crediting, voiding or
    # re-pricing under it would let the payment settle other than what is owed.
    if payment_in_flight(session, invoice.id):
        raise payment_in_progress()


def payment_in_progress() -> InvoiceConflict:
    """The refusal of a change to what an invoice owes while a card payment of it is in flight."""
    return InvoiceConflict("a card payment of this invoice is in progress; try again once it has finished",
                           code="payment_in_progress")


def check_invoice_terms(number, issue_date, due_date, currency, lines) -> None:
    """Refuse, with `InvalidInvoice` naming the field, terms no invoice may have."""
    if not number or not number.strip():
        raise InvalidInvoice("an invoice needs a number", field="number")
    if not is_iso_currency(currency):
        raise InvalidInvoice(f"{currency!r} is not an ISO 4217 currency code", field="currency")
    if due_date < issue_date:
        raise InvalidInvoice("the due date is before the issue date", field="due_date")
    if not lines:
        raise InvalidInvoice("an invoice needs at least one line", field="lines")
    total = 0
    for line in lines:
        if line.quantity < 0:
            raise InvalidInvoice("a line's quantity cannot be negative", field="lines.quantity")
        if line.quantity != line.quantity.quantize(QUANTITY_STEP):
            # The column keeps 4 decimals: a finer quantity would be rounded on save, and the
            # amounts computed from it would no longer match the line that is stored.
            raise InvalidInvoice("a line's quantity has at most 4 decimal places", field="lines.quantity")
        if not (0 <= line.tax_rate <= 100):
            raise InvalidInvoice("a tax rate is a percentage between 0 and 100", field="lines.tax_rate")
        total += line_amounts(line.quantity, line.unit_amount, line.tax_rate).total
    if total > MAX_INVOICE_TOTAL:
        raise InvalidInvoice(f"the invoice's total exceeds {MAX_INVOICE_TOTAL} minor units", field="lines")


def set_invoice_lines(invoice: Invoice, lines: list[LineInput]) -> None:
    """Replace the invoice's lines and recompute its net, tax and total from them."""
    priced = priced_lines(lines)
    invoice.lines = [InvoiceLine(**line) for line in priced]
    invoice.amount_net, invoice.amount_tax, invoice.amount_total = invoice_totals(priced)


def priced_lines(lines: list[LineInput]) -> list[dict]:
    """The invoice lines `lines` become, as column values: numbered from 1, each with its net and tax."""
    priced = []
    for position, line in enumerate(lines, start=1):
        amounts = line_amounts(line.quantity, line.unit_amount, line.tax_rate)
        priced.append({"position": position, "description": line.description, "quantity": line.quantity,
                       "unit_amount": line.unit_amount, "tax_rate": line.tax_rate,
                       "amount_net": amounts.net, "amount_tax": amounts.tax})
    return priced


def invoice_totals(priced: list[dict]) -> tuple[int, int, int]:
    """An invoice's net, tax and total: the sums of its `priced_lines`' rounded amounts."""
    net = sum(line["amount_net"] for line in priced)
    tax = sum(line["amount_tax"] for line in priced)
    return net, tax, net + tax
