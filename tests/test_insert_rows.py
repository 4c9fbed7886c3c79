"""`portal.db.insert_rows` writes what an INSERT of the same rows writes (by COPY on PostgreSQL), and a
row that breaks a constraint fails the way an INSERT's would, leaving the transaction usable."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from portal.db import insert_rows
from portal.models import AuditEvent, Invoice, OutboxMessage

AWKWARD_TEXT = 'tab\there, newline\nhere, back\\slash, "quotes", \\N, NULL, é€'


def _audit_rows(company_id: int, invoice_id: int, action: str) -> list[dict]:
    at = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    return [
        {"occurred_at": at, "action": action, "actor_user_id": None, "actor_label": AWKWARD_TEXT,
         "company_id": company_id, "invoice_id": invoice_id, "payment_id": None, "amount": 12_345, "currency": "EUR",
         "details": {"number": "INV-1", "nested": {"list": [1, "two", None]}, "text": AWKWARD_TEXT}},
        {"occurred_at": at + timedelta(microseconds=1), "action": action, "actor_user_id": None, "actor_label": "",
         "company_id": None, "invoice_id": None, "payment_id": None, "amount": None, "currency": None,
         "details": {}},
    ]


def _written(db, action: str) -> list[tuple]:
    return [(row.occurred_at, row.actor_label, row.company_id, row.invoice_id, row.amount, row.currency, row.details)
            for row in db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_rows_are_written_as_an_insert_writes_them(db, make):
    invoice = make.invoice(make.company())
    db.flush()
    db.execute(insert(AuditEvent), _audit_rows(invoice.company_id, invoice.id, "by.insert"))
    insert_rows(db, AuditEvent.__table__, _audit_rows(invoice.company_id, invoice.id, "by.insert_rows"))
    db.expire_all()

    written = _written(db, "by.insert_rows")
    assert written == _written(db, "by.insert")
    assert written[0][1] == AWKWARD_TEXT
    assert written[0][6]["text"] == AWKWARD_TEXT
    assert written[0][0] == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_columns_left_out_take_their_python_defaults_and_ids_their_sequence(db, make):
    invoice = make.invoice(make.company())
    db.flush()
    before = datetime.now(UTC)
    insert_rows(db, OutboxMessage.__table__, [
        {"recipients": [f"ap{n}@customer.test"], "subject": "", "body_text": "", "about_invoice_id": invoice.id}
        for n in range(3)
    ])
    messages = db.scalars(select(OutboxMessage).where(OutboxMessage.about_invoice_id == invoice.id)
                          .order_by(OutboxMessage.id)).all()
    assert [message.recipients for message in messages] == [[f"ap{n}@customer.test"] for n in range(3)]
    assert {message.status for message in messages} == {"pending"}
    assert {message.attempts for message in messages} == {0}
    assert all(message.created_at >= before for message in messages)
    assert len({message.id for message in messages}) == 3


def test_a_row_breaking_a_constraint_raises_an_integrity_error_and_only_its_savepoint_is_lost(db, make):
    invoice = make.invoice(make.company(), number="TAKEN-1")
    db.flush()
    row = {column: getattr(invoice, column) for column in
           ("company_id", "po_number", "issue_date", "due_date", "currency", "amount_net", "amount_tax", "amount_total",
            "amount_paid", "amount_credited", "custom_fields", "custom_fields_text", "pay_link_version", "issued_at",
            "created_at", "updated_at")}

    with pytest.raises(IntegrityError), db.begin_nested():
        insert_rows(db, Invoice.__table__, [{**row, "number": "FREE-1"}, {**row, "number": "TAKEN-1"}])

    assert db.scalars(select(Invoice.number).where(Invoice.number.in_(["FREE-1", "TAKEN-1"]))).all() == ["TAKEN-1"]
    insert_rows(db, Invoice.__table__, [{**row, "number": "FREE-1"}])
    assert db.scalar(select(Invoice.amount_total).where(Invoice.number == "FREE-1")) == invoice.amount_total


def test_what_the_session_holds_unwritten_is_written_first(db, make):
    invoice = make.invoice(make.company())
    db.flush()
    pending = AuditEvent(action="by.session", actor_label="tests", company_id=invoice.company_id, invoice_id=invoice.id)
    db.add(pending)
    insert_rows(db, AuditEvent.__table__, _audit_rows(invoice.company_id, invoice.id, "by.insert_rows")[:1])

    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.invoice_id == invoice.id).order_by(AuditEvent.id))
    assert [action for action in actions if action.startswith("by.")] == ["by.session", "by.insert_rows"]
