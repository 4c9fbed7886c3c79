"""Creating or updating companies and invoices from the supplier's ERP, idempotently.

Sending the same data twice changes nothing and says so; an invoice's amounts that something
rests on (a payment or credit, a dispute, a card payment in flight) are refused with a reason.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as siren_number

from portal import audit
from portal.accounts.recipients import replace_billing_emails
from portal.audit import Actor
from portal.billing.errors import InvalidInvoice, InvoiceConflict, UnknownCompany
from portal.billing.invoices import (
    LineInput,
    check_invoice_terms,
    create_invoice,
    payment_in_progress,
    set_invoice_lines,
)
from portal.billing.money import is_iso_currency
from portal.billing.payable import payment_in_flight
from portal.db import insert_unless_raced
from portal.models import Company, Dispute, Invoice


class Outcome:
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CompanyData:
    name: str
    billing_emails: list[str]
    locale: str = "fr"
    currency: str = "EUR"
    billing_address: str | None = None
    billing_postcode: str | None = None
    billing_city: str | None = None
    billing_country: str | None = None
    vat_number: str | None = None
    siren: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class InvoiceData:
    company_ref: str
    issue_date: date
    due_date: date
    currency: str
    lines: list[LineInput]
    po_number: str | None = None
    custom_fields: dict = field(default_factory=dict)


def upsert_company(session: Session, actor: Actor, ref: str, data: CompanyData) -> tuple[Company, str]:
    """Create the company `ref` or bring it in line with `data`; returns it and the outcome."""
    if not is_iso_currency(data.currency):
        raise InvalidInvoice(f"{data.currency!r} is not an ISO 4217 currency code", field="currency")
    if data.siren and not siren_number.is_valid(data.siren):
        raise InvalidInvoice(f"{data.siren!r} is not a valid SIREN (9 digits with a check digit)", field="siren")
    vat_number = data.vat_number.upper() if data.vat_number else None
    if vat_number and _is_eu_vat_number(vat_number) and not eu_vat.is_valid(vat_number):
        raise InvalidInvoice(f"{data.vat_number!r} is not a valid EU VAT number", field="vat_number")
    wanted = {
        "name": data.name,
        "locale": data.locale,
        "region": data.region,
        "currency": data.currency,
        "billing_address": data.billing_address or None,
        "billing_postcode": data.billing_postcode or None,
        "billing_city": data.billing_city or None,
        "billing_country": data.billing_country or None,
        "vat_number": vat_number,
        "siren": data.siren or None,
    }

    def find() -> Company | None:
        return session.scalar(select(Company).where(Company.external_ref == ref))

    def insert() -> Company:
        created = Company(external_ref=ref, **wanted)
        replace_billing_emails(created, list(data.billing_emails))
        session.add(created)
        session.flush()
        audit.record(session, "company.created", actor, company_id=created.id, ref=ref)
        return created

    company = find()
    if company is None:
        recorded, created = insert_unless_raced(session, insert, find)
        if created:
            return recorded, Outcome.CREATED
        company = recorded
    changed: dict[str, object] = {name: value for name, value in wanted.items() if getattr(company, name) != value}
    for name, value in changed.items():
        setattr(company, name, value)
    if replace_billing_emails(company, list(data.billing_emails)):
        changed["billing_emails"] = data.billing_emails
    if not changed:
        return company, Outcome.UNCHANGED
    audit.record(session, "company.updated", actor, company_id=company.id, ref=ref, changed=sorted(changed))
    return company, Outcome.UPDATED


def _is_eu_vat_number(number: str) -> bool:
    """Whether `number` claims an EU member state (whose check digits we can verify); others are kept as given."""
    prefix = number[:2].lower()
    return prefix in eu_vat.MEMBER_STATES or prefix == "el"


# Built once: every invoice sent through the API runs them.
_COMPANY_BY_REF = select(Company).where(Company.external_ref == bindparam("ref"))
_INVOICE_LOCKED = (select(Invoice).where(Invoice.number == bindparam("number")).with_for_update()
                   .execution_options(populate_existing=True))


def upsert_invoice(
    session: Session, actor: Actor, number: str, data: InvoiceData, *, now: datetime | None = None
) -> tuple[Invoice, str]:
    """Create invoice `number` (issued) or bring it in line with `data`; returns it and the outcome.

    Raises `InvoiceConflict` when the change would rewrite money already settled, disputed
    or being paid, touch a void invoice, or move the invoice to another company. Terms (PO
    number, dates, custom fields) may change whatever the invoice's state, unless it is void.
    `portal.billing.ingest` decides many invoices at once by the same rules.
    """
    company = session.scalar(_COMPANY_BY_REF, {"ref": data.company_ref})
    if company is None:
        raise unknown_company(data.company_ref)

    def find_locked() -> Invoice | None:
        return session.scalar(_INVOICE_LOCKED, {"number": number})

    # Locked as it is read (see `lock_invoice`): the checks below see any payment or dispute begun before.
    invoice: Invoice | None = find_locked()
    if invoice is None:
        invoice, created = insert_unless_raced(session, lambda: create_invoice(
            session, actor, company=company, number=number, issue_date=data.issue_date, due_date=data.due_date,
            currency=data.currency, lines=data.lines, po_number=data.po_number, custom_fields=data.custom_fields,
            now=now,
        ), find_locked)
        assert invoice is not None  # ours, or the one a concurrent request created first (insert_unless_raced)
        if created:
            return invoice, Outcome.CREATED

    check_invoice_terms(number, data.issue_date, data.due_date, data.currency, data.lines)
    refuse_other_company(invoice, company.id)
    changed_terms, amounts_change = invoice_changes(invoice, data)
    if not changed_terms and not amounts_change:
        return invoice, Outcome.UNCHANGED
    refuse_if_void(invoice)
    if amounts_change:
        refusal = new_amounts_refusal(invoice, disputes_of(session, [invoice.id]).get(invoice.id, []),
                                      in_flight=payment_in_flight(session, invoice.id))
        if refusal is not None:
            raise refusal
    changed = apply_invoice_changes(invoice, data, changed_terms, amounts_change)
    audit.record(
        session, "invoice.updated", actor, company_id=company.id, invoice_id=invoice.id,
        amount=invoice.amount_total, currency=invoice.currency, occurred_at=now, changed=changed,
    )
    return invoice, Outcome.UPDATED


# --- The rules of an update, shared with `portal.billing.ingest` ----------------------------------------


def unknown_company(ref: str) -> UnknownCompany:
    return UnknownCompany(f"no company has the reference {ref!r}")


def refuse_other_company(invoice: Invoice, company_id: int) -> None:
    if invoice.company_id != company_id:
        raise InvoiceConflict(
            "this invoice number belongs to another company", code="invoice_company_mismatch", field="company_ref"
        )


def refuse_if_void(invoice: Invoice) -> None:
    if invoice.voided_at is not None:
        raise InvoiceConflict("a void invoice cannot be changed", code="invoice_void")


def invoice_changes(invoice: Invoice, data: InvoiceData) -> tuple[dict, bool]:
    """What `data` would change on `invoice`: its terms that differ (name: new value), and whether its
    lines, amounts or currency would."""
    changed_terms = {
        name: value
        for name, value in {
            "po_number": data.po_number or None,
            "issue_date": data.issue_date,
            "due_date": data.due_date,
            "custom_fields": dict(data.custom_fields),
        }.items()
        if getattr(invoice, name) != value
    }
    amounts_change = invoice.currency != data.currency or _line_values(invoice.lines) != [
        _line_key(line) for line in data.lines
    ]
    return changed_terms, amounts_change


def apply_invoice_changes(invoice: Invoice, data: InvoiceData, changed_terms: dict, amounts_change: bool) -> list[str]:
    """Make the changes `invoice_changes` found; returns the names of what changed, for the audit row."""
    for name, value in changed_terms.items():
        setattr(invoice, name, value)
    changed = sorted(changed_terms)
    if amounts_change:
        invoice.currency = data.currency
        set_invoice_lines(invoice, data.lines)
        changed += ["currency", "lines"]
    return changed


def disputes_of(session: Session, invoice_ids: list[int]) -> dict[int, list[Dispute]]:
    """Every dispute of these invoices, with its lines, by invoice id."""
    found: dict[int, list[Dispute]] = {}
    if invoice_ids:
        for dispute in session.scalars(
            select(Dispute).where(Dispute.invoice_id.in_(invoice_ids)).options(selectinload(Dispute.lines))
            .order_by(Dispute.id)
        ):
            found.setdefault(dispute.invoice_id, []).append(dispute)
    return found


def new_amounts_refusal(invoice: Invoice, disputes: list[Dispute], *, in_flight: bool) -> InvoiceConflict | None:
    """Why the lines, amounts or currency of `invoice` cannot change, given its `disputes` and whether a
    card payment of it is `in_flight`; None if they may.

    Decide with the invoice locked: a payment or a dispute of it cannot begin meanwhile.
    """
    if invoice.amount_paid or invoice.amount_credited:
        return InvoiceConflict(
            "the amounts of an invoice with payments or credit notes cannot change; "
            "issue a credit note or a new invoice instead",
            code="invoice_has_payments",
            field="lines",
        )
    active = next((dispute for dispute in disputes if dispute.is_active), None)
    if active is not None:
        return InvoiceConflict(_disputed_message(invoice, active), code="invoice_disputed", field="lines")
    if any(dispute.lines for dispute in disputes):
        # The dispute's record points at the very lines it was about: they stay as they were.
        return InvoiceConflict(
            f"lines of invoice {invoice.number} were disputed, and the closed dispute's record names them, "
            "so its lines and currency cannot change; issue a credit note, or void it and issue a new invoice",
            code="invoice_lines_in_closed_dispute",
            field="lines",
        )
    if in_flight:
        return payment_in_progress()
    return None


def _disputed_message(invoice: Invoice, dispute: Dispute) -> str:
    if dispute.lines:
        position = {line.id: line.position for line in invoice.lines}
        numbers = sorted(position[line.invoice_line_id] for line in dispute.lines)
        disputed = f"on line(s) {', '.join(map(str, numbers))}, which new lines would replace"
    else:
        disputed = "over part of its amount"
    return (f"invoice {invoice.number} has a dispute in progress {disputed}: its lines, amounts and currency "
            "cannot change until the dispute is resolved; resolve it (with a credit note if the customer is "
            "right), or issue a credit note")


def _line_key(line) -> tuple:
    return (line.description, Decimal(line.quantity), int(line.unit_amount), Decimal(line.tax_rate))


def _line_values(lines) -> list[tuple]:
    return [_line_key(line) for line in lines]
