"""Money received: settling a payment against the invoices it was allocated to."""

from datetime import date, datetime
from uuid import uuid4

from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.balances import refresh_invoice_balance
from portal.billing.errors import InvalidInvoice
from portal.models import Company, Invoice, Payment, PaymentAllocation, PaymentChannel, PaymentStatus
from portal.models.types import utcnow


def settle_payment(session: Session, actor: Actor, payment: Payment, *, now: datetime | None = None) -> None:
    """Mark `payment` succeeded and apply its allocations to their invoices, once."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return
    payment.status = PaymentStatus.SUCCEEDED
    payment.succeeded_at = now or utcnow()
    audit.record(
        session, "payment.succeeded", actor, company_id=payment.company_id, payment_id=payment.id,
        amount=payment.amount, currency=payment.currency, occurred_at=payment.succeeded_at,
        method=payment.method_summary,
    )
    for allocation in payment.allocations:
        refresh_invoice_balance(session, allocation.invoice)
        audit.record(
            session, "payment.allocated", actor, company_id=payment.company_id,
            invoice_id=allocation.invoice_id, payment_id=payment.id,
            amount=allocation.amount, currency=payment.currency, occurred_at=payment.succeeded_at,
            method=payment.method_summary,
        )


def record_offline_payment(
    session: Session,
    actor: Actor,
    *,
    company: Company,
    allocations: list[tuple[Invoice, int]],
    method_summary: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> Payment:
    """Write money received outside the portal against invoices and settle it, as the ledger's bare step.

    It takes no claim and checks nothing of what is owed: staff go through
    `portal.payments.offline.record_money_received`, which does both. This is for fixtures
    and the demo, where nothing else can be paying the invoices.
    """
    payment = new_offline_payment(session, actor, company=company, allocations=allocations,
                                  method_summary=method_summary, reference=reference,
                                  idempotency_key=f"offline-{uuid4()}")
    settle_payment(session, actor, payment, now=now)
    return payment


def new_offline_payment(
    session: Session,
    actor: Actor,
    *,
    company: Company,
    allocations: list[tuple[Invoice, int]],
    method_summary: str,
    reference: str | None,
    idempotency_key: str,
    offline_method: str | None = None,
    received_on: date | None = None,
) -> Payment:
    """The pending payment row for money received outside the portal, with its allocations; not yet settled."""
    currencies = {invoice.currency for invoice, _ in allocations}
    if len(currencies) != 1:
        raise InvalidInvoice("one payment settles invoices of one currency", field="allocations")
    if any(invoice.company_id != company.id for invoice, _ in allocations):
        raise InvalidInvoice("a payment settles its own company's invoices", field="allocations")
    payment = Payment(
        company_id=company.id,
        amount=sum(amount for _, amount in allocations),
        currency=currencies.pop(),
        status=PaymentStatus.PENDING,
        idempotency_key=idempotency_key,
        payer_reference=reference,
        offline_method=offline_method,
        received_on=received_on,
        method_summary=method_summary,
        channel=PaymentChannel.OFFLINE,
        created_by_user_id=actor.user_id,
        allocations=[PaymentAllocation(invoice=invoice, amount=amount) for invoice, amount in allocations],
    )
    session.add(payment)
    session.flush()
    return payment
