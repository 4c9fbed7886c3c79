"""The one way to write an audit event: every change of money or status goes through here."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from portal.billing.data_version import company_data_changed
from portal.db import insert_rows
from portal.models import AuditEvent
from portal.models.types import utcnow


@dataclass(frozen=True)
class Actor:
    """Who made a change: a signed-in user, an API key, or Acquit itself."""

    label: str
    user_id: int | None = None

    @classmethod
    def user(cls, user) -> "Actor":
        return cls(label=user.email, user_id=user.id)

    @classmethod
    def system(cls, what: str = "acquit") -> "Actor":
        return cls(label=f"system:{what}")


def record(
    session: Session,
    action: str,
    actor: Actor,
    *,
    company_id: int | None = None,
    invoice_id: int | None = None,
    payment_id: int | None = None,
    amount: int | None = None,
    currency: str | None = None,
    occurred_at: datetime | None = None,
    **details,
) -> AuditEvent:
    """Add an audit event for `action` (e.g. "invoice.issued") to the session's transaction."""
    event = AuditEvent(
        occurred_at=occurred_at or utcnow(),
        action=action,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        company_id=company_id,
        invoice_id=invoice_id,
        payment_id=payment_id,
        amount=amount,
        currency=currency,
        details=details,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class Entry:
    """One audit event of many written at once by `record_all`: `record`'s arguments, as a value."""

    action: str
    company_id: int | None = None
    invoice_id: int | None = None
    amount: int | None = None
    currency: str | None = None
    occurred_at: datetime | None = None
    details: dict = field(default_factory=dict)


def record_all(session: Session, actor: Actor, entries: Iterable[Entry]) -> int:
    """Write the audit events `entries`, all by `actor`, in one statement of the session's transaction
    (a batch of thousands of invoices); returns how many. The rows are those `record` would write."""
    now = utcnow()
    rows = [
        {"occurred_at": entry.occurred_at or now, "action": entry.action, "actor_user_id": actor.user_id,
         "actor_label": actor.label, "company_id": entry.company_id, "invoice_id": entry.invoice_id,
         "payment_id": None, "amount": entry.amount, "currency": entry.currency, "details": entry.details}
        for entry in entries
    ]
    if rows:
        insert_rows(session, AuditEvent.__table__, rows)
        # A company's pages show its audit rows (invoice histories), and this INSERT is no ORM flush.
        company_data_changed(session, {row["company_id"] for row in rows})
    return len(rows)
