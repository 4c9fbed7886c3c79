"""Acquit's tables, one module per aggregate; importing this package registers them all."""

from portal.accounts.permissions import Role
from portal.models.api_key import ApiKey
from portal.models.approval import ApprovalRule, ApprovalStatus, PaymentApproval, PaymentApprovalInvoice
from portal.models.audit import AuditEvent
from portal.models.autopay import (
    AutopayApproval,
    AutopayAttempt,
    AutopayAttemptStatus,
    AutopayEnrolment,
    AutopayNotice,
    AutopayStatus,
)
from portal.models.card import SavedCard
from portal.models.company import BillingRecipient, Company, InvoiceFormat, RecipientPurpose
from portal.models.company_field import CompanyField, CompanyFieldKind, InvoiceFieldValue
from portal.models.credit_note import CreditNote
from portal.models.custom_field import CustomFieldLabel
from portal.models.dispute import (
    ACTIVE_DISPUTE_STATUSES,
    Dispute,
    DisputeAttachment,
    DisputeLine,
    DisputeMessage,
    DisputeReason,
    DisputeStatus,
)
from portal.models.invoice import Invoice, InvoiceLine
from portal.models.outbox import OutboxMessage
from portal.models.payment import (
    CARD_CHANNELS,
    IN_FLIGHT_PAYMENT_STATUSES,
    InvoicePaymentClaim,
    OfflineMethod,
    Payment,
    PaymentAllocation,
    PaymentAttention,
    PaymentChannel,
    PaymentDisplayStatus,
    PaymentStatus,
    ProcessedWebhookEvent,
    Refund,
    RefundStatus,
)
from portal.models.reminder import (
    MonthlyStatement,
    ReminderEmail,
    ReminderItem,
    ReminderPolicy,
    StatementSubscription,
)
from portal.models.throttle import ThrottleHit
from portal.models.user import LoginAttempt, User, UserKind

__all__ = [
    "ApprovalRule",
    "ApprovalStatus",
    "PaymentApproval",
    "PaymentApprovalInvoice",
    "AutopayApproval",
    "AutopayAttempt",
    "AutopayAttemptStatus",
    "AutopayEnrolment",
    "AutopayNotice",
    "AutopayStatus",
    "ACTIVE_DISPUTE_STATUSES",
    "ApiKey",
    "AuditEvent",
    "BillingRecipient",
    "Company",
    "CompanyField",
    "CompanyFieldKind",
    "CreditNote",
    "CustomFieldLabel",
    "Dispute",
    "DisputeAttachment",
    "DisputeLine",
    "DisputeMessage",
    "DisputeReason",
    "DisputeStatus",
    "Invoice",
    "InvoiceFieldValue",
    "InvoiceFormat",
    "InvoiceLine",
    "InvoicePaymentClaim",
    "OfflineMethod",
    "LoginAttempt",
    "OutboxMessage",
    "CARD_CHANNELS",
    "IN_FLIGHT_PAYMENT_STATUSES",
    "Payment",
    "PaymentDisplayStatus",
    "PaymentAllocation",
    "PaymentAttention",
    "PaymentChannel",
    "PaymentStatus",
    "ProcessedWebhookEvent",
    "RecipientPurpose",
    "MonthlyStatement",
    "ReminderEmail",
    "ReminderItem",
    "ReminderPolicy",
    "StatementSubscription",
    "Refund",
    "RefundStatus",
    "SavedCard",
    "ThrottleHit",
    "Role",
    "User",
    "UserKind",
]

# Registers the flush and commit listeners that keep every company's data version current.
import portal.billing.data_version  # noqa: E402, F401, I001
