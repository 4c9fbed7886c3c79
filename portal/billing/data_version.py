"""A company's data version: a token that changes whenever what the company sees may have changed.

The invoice list's cache and the `ETag`s of its pages and PDFs are keyed on it, so a page
served from them is never older than the database. Three rules make that hold:

- it changes in the same transaction as the change itself (at commit, in `_bump_at_commit`),
  so no reader sees the new rows with the old version, or the reverse;
- it is a fresh random token, never a counter or an id: a rolled-back transaction cannot give
  a version back for a later, different state to take, and two databases (a test's, a
  restored backup) never share one;
- nobody has to remember it: every ORM flush of a row that a company's pages show
  (`COMPANY_FACING`) marks its company, and the commit bumps the marked companies. Writes that
  bypass the ORM's unit of work (bulk INSERT/UPDATE, COPY) call `company_data_changed` themselves.

The bump happens as the transaction's last statement, companies in id order: the company row
is locked only for the instant before COMMIT, and two transactions never wait on each other
for two companies in opposite orders.
"""

from collections.abc import Iterable

from sqlalchemy import bindparam, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.models import (
    ApprovalRule,
    AuditEvent,
    AutopayApproval,
    AutopayAttempt,
    AutopayEnrolment,
    AutopayNotice,
    Company,
    CompanyField,
    CreditNote,
    CustomFieldLabel,
    Dispute,
    DisputeAttachment,
    DisputeLine,
    DisputeMessage,
    Invoice,
    InvoiceFieldValue,
    InvoiceLine,
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentApproval,
    PaymentApprovalInvoice,
    Refund,
    ReminderEmail,
    ReminderItem,
    SavedCard,
)
from portal.models.company import new_data_version

_PENDING = "acquit.companies_changed"
_ALL_COMPANIES = "acquit.all_companies_changed"


def company_data_changed(session: Session, company_ids: Iterable[int]) -> None:
    """Mark `company_ids` as changed in `session`'s transaction: their data version changes when it commits.

    Only writes that bypass the ORM's flush need this (bulk INSERT/UPDATE, COPY); rows added
    or changed through the session are noticed on their own.
    """
    session.info.setdefault(_PENDING, set()).update(company_id for company_id in company_ids if company_id is not None)


def every_company_data_changed(session: Session) -> None:
    """Mark every company as changed: for what all of them see (the custom fields' labels)."""
    session.info[_ALL_COMPANIES] = True


_COMPANIES = Company.metadata.tables[Company.__tablename__]
# updated_at set to itself: a new version is not a change of the company's own details. A Core
# UPDATE, built once: the ORM's would look for the companies in the session on every commit.
_NEW_VERSION = (update(_COMPANIES).where(_COMPANIES.c.id == bindparam("company"))
                .values(data_version=bindparam("version"), updated_at=_COMPANIES.c.updated_at))


def bump_data_versions(session: Session, company_ids: Iterable[int]) -> None:
    """Give `company_ids` new data versions now, in `session`'s transaction (in id order, against deadlocks)."""
    versions = [{"company": company_id, "version": new_data_version()} for company_id in sorted(set(company_ids))]
    if not versions:
        return
    session.execute(_NEW_VERSION, versions)
    # A company the session holds shows its new version, as after the ORM's own UPDATE.
    for row in versions:
        company = session.identity_map.get(identity_key(Company, row["company"]))
        if company is not None:
            set_committed_value(company, "data_version", row["version"])


def current_data_version(session: Session, company_id: int) -> str | None:
    """The company's data version as the database has it now."""
    return session.scalar(select(Company.data_version).where(Company.id == company_id))


# Each class whose rows a company's pages show, and how a row names its company: directly, or
# through the invoice, payment, dispute or dispute message it belongs to.
_DIRECT = (Invoice, CreditNote, Payment, Dispute, ReminderEmail, AutopayEnrolment, ApprovalRule, PaymentApproval,
           SavedCard, CompanyField, AuditEvent)
_THROUGH_INVOICE = (InvoiceLine, InvoiceFieldValue, PaymentAllocation, InvoicePaymentClaim, ReminderItem,
                    AutopayAttempt, AutopayApproval, AutopayNotice, PaymentApprovalInvoice)
_PARENTS = {
    "invoice_id": (Invoice.id, Invoice.company_id),
    "payment_id": (Payment.id, Payment.company_id),
    "dispute_id": (Dispute.id, Dispute.company_id),
}
COMPANY_FACING = (Company, *_DIRECT, *_THROUGH_INVOICE, Refund, DisputeLine, DisputeMessage, DisputeAttachment,
                  CustomFieldLabel)


def _value(session: Session, instance, attribute: str):
    """What the row holds in `attribute`, loading it only if it was expired (a deleted row cannot be loaded again)."""
    state = inspect(instance)
    if attribute in state.dict or instance in session.deleted:
        return state.dict.get(attribute)
    return getattr(instance, attribute)


@event.listens_for(Session, "after_flush")
def _note_changed_companies(session: Session, _flush_context) -> None:
    pending: set[int] = session.info.setdefault(_PENDING, set())
    parents: dict[str, set[int]] = {name: set() for name in _PARENTS}
    messages: set[int] = set()
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, Company):
            pending.add(_value(session, instance, "id"))
        elif isinstance(instance, _DIRECT):
            pending.add(_value(session, instance, "company_id"))
        elif isinstance(instance, _THROUGH_INVOICE):
            invoice_id = _value(session, instance, "invoice_id")
            # The invoice itself when it is at hand (a new invoice's lines): no statement to find its company.
            invoice = instance_state(instance).dict.get("invoice")
            if isinstance(invoice, Invoice) and invoice_id is not None and _value(session, invoice, "id") == invoice_id:
                pending.add(_value(session, invoice, "company_id"))
            else:
                parents["invoice_id"].add(invoice_id)
        elif isinstance(instance, Refund):
            parents["payment_id"].add(_value(session, instance, "payment_id"))
        elif isinstance(instance, DisputeLine | DisputeMessage):
            parents["dispute_id"].add(_value(session, instance, "dispute_id"))
        elif isinstance(instance, DisputeAttachment):
            messages.add(_value(session, instance, "message_id"))
        elif isinstance(instance, CustomFieldLabel):
            session.info[_ALL_COMPANIES] = True
    messages.discard(None)
    if messages:
        parents["dispute_id"].update(session.scalars(
            select(DisputeMessage.dispute_id).where(DisputeMessage.id.in_(messages))))
    for name, (parent_id, company_id) in _PARENTS.items():
        ids = parents[name] - {None}
        if ids:
            pending.update(session.scalars(select(company_id).where(parent_id.in_(ids)).distinct()))
    pending.discard(None)


@event.listens_for(Session, "before_commit")
def _bump_at_commit(session: Session) -> None:
    if session.in_nested_transaction():
        # A savepoint released (SQLAlchemy tells it as a commit too): its marks wait for the real commit,
        # which bumps them with the rest, once.
        return
    # Flush first: the last changes of the transaction are only noticed once flushed.
    session.flush()
    if session.info.pop(_ALL_COMPANIES, False):
        session.info.pop(_PENDING, None)
        bump_data_versions(session, session.scalars(select(Company.id)))
        return
    pending = session.info.pop(_PENDING, None)
    if pending:
        bump_data_versions(session, pending)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    # The outermost transaction rolled back: what it marked never happened.
    if not session.in_transaction():
        session.info.pop(_PENDING, None)
        session.info.pop(_ALL_COMPANIES, None)
