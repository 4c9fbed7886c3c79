"""Acquit's tables, one module per aggregate; importing this package registers them all."""

from portal.models.api_key import ApiKey
from portal.models.audit import AuditEvent
from portal.models.card import SavedCard
from portal.models.company import Company
from portal.models.credit_note import CreditNote
from portal.models.invoice import Invoice, InvoiceLine
from portal.models.outbox import OutboxMessage
from portal.models.payment import (
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    ProcessedWebhookEvent,
    Refund,
    RefundStatus,
)
from portal.models.user import LoginAttempt, Role, User, UserKind

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Company",
    "CreditNote",
    "Invoice",
    "InvoiceLine",
    "InvoicePaymentClaim",
    "LoginAttempt",
    "OutboxMessage",
    "Payment",
    "PaymentAllocation",
    "PaymentStatus",
    "ProcessedWebhookEvent",
    "Refund",
    "RefundStatus",
    "SavedCard",
    "Role",
    "User",
    "UserKind",
]
