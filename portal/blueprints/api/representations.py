"""How the API shows companies, invoices, payments and users as JSON."""

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.billing.status import invoice_status
from portal.models import Company, CreditNote, Invoice, Payment, PaymentAllocation, PaymentStatus, User


def company_json(company: Company, outcome: str | None = None) -> dict:
    body = {
        "ref": company.external_ref,
        "name": company.name,
        "billing_emails": list(company.billing_emails),
        "locale": company.locale,
        "region": company.region,
        "currency": company.currency,
        "billing_address": company.billing_address,
        "billing_postcode": company.billing_postcode,
        "billing_city": company.billing_city,
        "billing_country": company.billing_country,
        "vat_number": company.vat_number,
        "siren": company.siren,
    }
    if outcome:
        body["outcome"] = outcome
    return body


def invoice_json(session: Session, invoice: Invoice, today: date, *, outcome: str | None = None,
                 with_settlements: bool = True, just_created: bool = False) -> dict:
    """The invoice as the API shows it; `just_created` (nothing can have settled it yet) spares reading its settlements."""
    status = invoice_status(invoice, today)
    body = {
        "number": invoice.number,
        "company_ref": invoice.company.external_ref,
        "status": status.value,
        "po_number": invoice.po_number,
        "issue_date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "currency": invoice.currency,
        "amount_net": invoice.amount_net,
        "amount_tax": invoice.amount_tax,
        "amount_total": invoice.amount_total,
        "amount_paid": invoice.amount_paid,
        "amount_credited": invoice.amount_credited,
        "amount_due": 0 if invoice.voided_at else invoice.amount_due,
        "custom_fields": dict(invoice.custom_fields),
        "voided_at": invoice.voided_at.isoformat() if invoice.voided_at else None,
    }
    if with_settlements:
        body["lines"] = [
            {
                "description": line.description,
                "quantity": str(line.quantity.normalize()),
                "unit_amount": line.unit_amount,
                "tax_rate": str(line.tax_rate),
                "amount_net": line.amount_net,
                "amount_tax": line.amount_tax,
            }
            for line in invoice.lines
        ]
        body["allocations"] = [] if just_created else [
            allocation_json(allocation, payment)
            for allocation, payment in session.execute(
                select(PaymentAllocation, Payment)
                .join(Payment, Payment.id == PaymentAllocation.payment_id)
                .where(PaymentAllocation.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED)
                .order_by(Payment.succeeded_at, Payment.id)
            )
        ]
        body["credit_notes"] = [] if just_created else [
            {
                "number": note.number,
                "invoice_number": invoice.number,
                "amount": note.amount,
                "currency": note.currency,
                "issue_date": note.issue_date.isoformat(),
                "reason": note.reason,
            }
            for note in session.scalars(select(CreditNote).where(CreditNote.invoice_id == invoice.id).order_by(CreditNote.id))
        ]
    if outcome:
        body["outcome"] = outcome
    return body


def allocation_json(allocation: PaymentAllocation, payment: Payment) -> dict:
    return {
        "payment_id": payment.id,
        "invoice_number": allocation.invoice.number,
        "amount": allocation.amount,
        "currency": payment.currency,
        "succeeded_at": payment.succeeded_at.isoformat() if payment.succeeded_at else None,
    }


def payment_json(payment: Payment) -> dict:
    return {
        "id": payment.id,
        "company_ref": payment.company.external_ref,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "method": payment.method_summary,
        "reference": payment.reference,
        "succeeded_at": payment.succeeded_at.isoformat() if payment.succeeded_at else None,
        "allocations": [allocation_json(allocation, payment) for allocation in payment.allocations],
    }


def user_json(user: User, outcome: str) -> dict:
    return {"email": user.email, "role": user.role, "company_ref": user.company.external_ref, "outcome": outcome}
