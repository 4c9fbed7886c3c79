"""`POST /api/v1/invoices:batch`: many invoices in one request, one result each, refusals named by item."""

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.billing.ingest import MAX_BATCH
from portal.blueprints.api.views import BATCH_MAX_BYTES
from portal.mail import outbox
from portal.models import AuditEvent, Company, Invoice, InvoiceLine, OutboxMessage
from portal.services import services_of

ISSUED = date(2026, 11, 2)


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


def item(number: str, company: str = "ACME", *, due_days: int = 30, lines: int = 1, description: str = "Widgets",
         **extra) -> dict:
    return {
        "number": number, "company_ref": company, "issue_date": ISSUED.isoformat(),
        "due_date": (ISSUED + timedelta(days=due_days)).isoformat(), "currency": "EUR",
        "lines": [{"description": f"{description} {n}", "quantity": "2.5", "unit_amount": 1000, "tax_rate": "20.00"}
                  for n in range(lines)],
        **extra,
    }


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


@pytest.fixture
def companies(make, db):
    make.company(ref="ACME", billing_emails=["ap@acme.test"])
    make.company(ref="QUIET", billing_emails=[])
    db.commit()


def test_a_batch_writes_every_invoice_and_answers_one_result_each_in_order(erp, db, companies, smtp_server):
    response = erp.post("/invoices:batch", {"invoices": [item("B-1", lines=2), item("B-2", "QUIET"), item("B-3")]})

    assert response.status_code == 200
    assert response.get_json() == {
        "results": [{"index": 0, "number": "B-1", "outcome": "created"},
                    {"index": 1, "number": "B-2", "outcome": "created"},
                    {"index": 2, "number": "B-3", "outcome": "created"}],
        "counts": {"created": 3, "updated": 0, "unchanged": 0, "refused": 0},
    }
    assert (count(db, Invoice), count(db, InvoiceLine)) == (3, 4)
    first = db.scalar(select(Invoice).where(Invoice.number == "B-1"))
    assert (first.amount_net, first.amount_tax, first.amount_total, first.issued_at is not None) == (5000, 1000, 6000, True)
    assert erp.get("/invoices/B-1").get_json()["amount_due"] == 6000
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.invoice_id == first.id).order_by(AuditEvent.id))
    assert list(actions) == ["invoice.created", "invoice.issued", "invoice.sent"]
    # ACME's e-mails wait for the worker, unwritten; QUIET has no recipient, so none is made for it.
    rows = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [(row.recipients, row.compose, row.subject) for row in rows] == [(["ap@acme.test"], "invoice_issued", "")] * 2
    assert smtp_server.messages == []


def test_the_worker_writes_a_queued_invoice_e_mail_as_it_sends_it(app, erp, db, companies, smtp_server):
    erp.post("/invoices:batch", {"invoices": [item("B-1", po_number="PO-77")]})

    assert outbox.deliver(db, services_of(app).smtp) == 1

    [received] = smtp_server.messages
    assert received.recipients == ["ap@acme.test"]
    assert "B-1" in received.message["Subject"]
    assert "http://portal.test/pay/" in received.text_body() and "PO-77" in received.text_body()
    assert [part.get_content_type() for part in received.message.iter_attachments()] == ["application/pdf"]
    [row] = db.scalars(select(OutboxMessage)).all()
    db.refresh(row)
    assert (row.status, row.subject) == ("sent", received.message["Subject"])
    assert row.body_text.strip() == received.text_body().replace("\r\n", "\n").strip()


def test_a_refused_invoice_is_named_by_index_and_field_and_the_others_are_written(erp, db, companies):
    response = erp.post("/invoices:batch", {"invoices": [
        item("B-1"), item("B-2", due_days=-1), item("B-3", "NOBODY"), item("B-4"),
    ]})

    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results[1] == {"index": 1, "number": "B-2", "error": {
        "code": "validation_error", "message": "the due date is before the issue date", "field": "invoices[1].due_date"}}
    assert results[2]["error"] == {"code": "unknown_company", "message": "no company has the reference 'NOBODY'",
                                   "field": "invoices[2].company_ref"}
    assert response.get_json()["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "refused": 2}
    assert sorted(db.scalars(select(Invoice.number))) == ["B-1", "B-4"]


def test_sending_the_same_batch_again_changes_nothing_and_says_so(erp, db, companies):
    batch = {"invoices": [item("B-1"), item("B-2")]}
    erp.post("/invoices:batch", batch)
    audit_rows, mail = count(db, AuditEvent), count(db, OutboxMessage)

    response = erp.post("/invoices:batch", batch)

    assert response.get_json()["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "refused": 0}
    assert (count(db, AuditEvent), count(db, OutboxMessage)) == (audit_rows, mail)


def test_an_invoice_of_a_paid_batch_keeps_its_lines_while_its_terms_change(erp, db, make, companies):
    erp.post("/invoices:batch", {"invoices": [item("B-1"), item("B-2")]})
    make.payment(db.scalar(select(Invoice).where(Invoice.number == "B-1")), 100)
    db.commit()

    response = erp.post("/invoices:batch", {"invoices": [item("B-1", lines=2), item("B-2", po_number="PO-2")]})

    first, second = response.get_json()["results"]
    assert first["error"]["code"] == "invoice_has_payments" and first["error"]["field"] == "invoices[0].lines"
    assert second["outcome"] == "updated"
    db.expire_all()
    assert len(db.scalar(select(Invoice).where(Invoice.number == "B-1")).lines) == 1


@pytest.mark.parametrize(("invoices", "field"), [
    ([item("B-1"), {**item("B-2"), "lines": []}], "invoices[1].lines"),
    ([item("B-1"), item("B-2"), item("B-1")], "invoices[2].number"),
    ([item("B-1"), {**item("B-2"), "due_date": "2026-02-30"}], "invoices[1].due_date"),
    ([item(f"B-{n}") for n in range(MAX_BATCH + 1)], "invoices"),
    ([], "invoices"),
])
def test_a_batch_not_as_documented_is_refused_whole_naming_item_and_field(erp, db, companies, invoices, field):
    response = erp.post("/invoices:batch", {"invoices": invoices})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert count(db, Invoice) == 0


def test_a_body_over_the_batch_limit_is_refused_413_in_the_api_shape(erp, db, companies):
    huge = b'{"invoices": [' + json.dumps(item("B-1")).encode() + b" " * BATCH_MAX_BYTES + b"]}"

    response = erp.client.post("/api/v1/invoices:batch", data=huge, headers=erp.headers,
                               content_type="application/json")

    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert count(db, Invoice) == 0


def test_a_batch_larger_than_the_portal_s_usual_body_limit_is_taken(app, erp, db, companies):
    invoices = [item(f"B-{n:04d}", lines=3, description="Steel brackets, galvanised, box of 100 " * 8)
                for n in range(MAX_BATCH)]
    assert len(json.dumps({"invoices": invoices})) > app.config["MAX_CONTENT_LENGTH"]

    response = erp.post("/invoices:batch", {"invoices": invoices})

    assert response.status_code == 200
    assert response.get_json()["counts"]["created"] == MAX_BATCH
    assert (count(db, Invoice), count(db, InvoiceLine)) == (MAX_BATCH, 3 * MAX_BATCH)


def test_a_batch_changes_the_data_version_of_each_company_it_writes_to_and_of_no_other(erp, db, make, companies):
    make.company(ref="UNTOUCHED")
    db.commit()

    def versions() -> dict[str, str]:
        db.expire_all()
        return {ref: version for ref, version in db.execute(select(Company.external_ref, Company.data_version))}

    before_creation = versions()
    erp.post("/invoices:batch", {"invoices": [item("B-1"), item("B-2", "QUIET")]})
    after_creation = versions()
    erp.post("/invoices:batch", {"invoices": [item("B-1", lines=2), item("B-2", "QUIET")]})  # B-2 unchanged
    after_update = versions()

    assert after_creation["ACME"] != before_creation["ACME"] and after_creation["QUIET"] != before_creation["QUIET"]
    assert after_update["ACME"] != after_creation["ACME"] and after_update["QUIET"] == after_creation["QUIET"]
    assert before_creation["UNTOUCHED"] == after_creation["UNTOUCHED"] == after_update["UNTOUCHED"]
