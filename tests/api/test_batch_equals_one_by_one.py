"""The same load sent one invoice at a time (PUT) into one database and in batches (POST
/invoices:batch) into another leaves the same rows: invoices, lines, audit rows and queued
e-mails (ids and timestamps aside), and the ERP is told the same outcome or refusal for each.

The load creates, updates terms and lines, replays unchanged invoices, and meets every
refusal: unknown company, invalid terms, another company's number, a void invoice, and lines of
an invoice that is paid, credited, disputed, was disputed, or is being paid by card.
"""

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from portal.accounts.api_keys import create_api_key
from portal.app import create_app
from portal.billing.invoices import void_invoice
from portal.blueprints.app_services import services
from portal.disputes.service import DisputeClaim, raise_dispute, withdraw_dispute
from portal.extensions import db as database
from portal.models import (
    AuditEvent,
    BillingRecipient,
    Company,
    Invoice,
    InvoiceFormat,
    InvoiceLine,
    InvoicePaymentClaim,
    OutboxMessage,
    Payment,
    PaymentAllocation,
    PaymentStatus,
)
from tests.api.conftest import API
from tests.builders import Builders
from tests.conftest import app_config, migrated_database

ISSUED = date(2026, 11, 2)
SEEDED = ("OPEN-1", "OPEN-2", "PAID-1", "CREDITED-1", "DISPUTED-1", "WAS-DISPUTED-1", "IN-FLIGHT-1", "VOID-1")


def body(company: str, *lines: tuple[str, int | str, int, str], issued: date = ISSUED, due_days: int = 30,
         po: str | None = None, custom: dict | None = None, currency: str = "EUR") -> dict:
    return {
        "company_ref": company, "po_number": po, "issue_date": issued.isoformat(),
        "due_date": (issued + timedelta(days=due_days)).isoformat(), "currency": currency,
        "lines": [{"description": d, "quantity": q, "unit_amount": u, "tax_rate": t} for d, q, u, t in lines],
        "custom_fields": custom or {},
    }


WIDGETS = ("Widgets", 3, 1999, "20.00")
DELIVERY = ("Delivery", "1.5", 500, "5.5")
SEEDED_LINE = ("Seeded", 1, 10_000, "0")


def load() -> list[list[tuple[str, dict]]]:
    """Two rounds of (number, body): the second updates and replays what the first wrote."""
    first = [(f"NEW-{n:03d}", body("ACME" if n % 3 else "BETA", WIDGETS, *([DELIVERY] * (n % 2)), po=f"PO-{n}",
                                   custom={"cost_centre": f"CC-{n % 4}"} if n % 5 else None))
             for n in range(1, 31)]
    first += [
        ("NEW-BAD-DATES", body("ACME", WIDGETS, due_days=-1)),
        ("NEW-NOBODY", body("NOBODY", WIDGETS)),
        ("NEW-BAD-CURRENCY", body("ACME", WIDGETS, currency="XXY")),
        ("OPEN-1", body("ACME", WIDGETS, DELIVERY)),
        ("OPEN-2", body("BETA", SEEDED_LINE)),
        *[(number, body("ACME", DELIVERY)) for number in SEEDED[2:7]],
        ("VOID-1", body("ACME", SEEDED_LINE, po="PO-NEW")),
    ]
    second = [(f"NEW-{n:03d}", body("ACME" if n % 3 else "BETA", WIDGETS, *([DELIVERY] * (n % 2)), po=f"PO-{n}",
                                    custom={"cost_centre": f"CC-{n % 4}"} if n % 5 else None))
              for n in range(1, 11)]
    second += [(f"NEW-{n:03d}", body("ACME" if n % 3 else "BETA", DELIVERY, WIDGETS, po=f"PO-{n}"))
               for n in range(11, 21)]
    second += [(f"NEW-{n:03d}", body("ACME" if n % 3 else "BETA", WIDGETS, *([DELIVERY] * (n % 2)), po="PO-CHANGED",
                                     custom={"project": "Atlas"}))
               for n in range(21, 26)]
    second += [
        ("PAID-1", body("ACME", SEEDED_LINE, po="PO-LATE")),
        ("DISPUTED-1", body("ACME", SEEDED_LINE, due_days=60)),
        ("IN-FLIGHT-1", body("ACME", SEEDED_LINE, custom={"project": "Atlas"})),
        ("VOID-1", body("ACME", SEEDED_LINE)),
        ("NEW-BAD-DATES", body("ACME", WIDGETS)),
    ]
    return [first, second]


class Portal:
    """An app on a database of its own, seeded with the same invoices in the same states."""

    def __init__(self, url: str):
        self.app = create_app(app_config(url))
        self.context = self.app.app_context()
        self.context.push()
        session = database.session
        make = Builders(session)
        acme = make.company(ref="ACME", billing_emails=["ap@acme.test", "cfo@acme.test"])
        make.company(ref="BETA", billing_emails=[], locale="en")
        session.flush()
        session.execute(update(BillingRecipient).where(BillingRecipient.email == "cfo@acme.test")
                        .values(invoice_format=InvoiceFormat.LINK))
        seeded = {number: make.invoice(acme, number=number, total=10_000, issue_date=ISSUED, due_date=ISSUED
                                       + timedelta(days=30)) for number in SEEDED}
        make.payment(seeded["PAID-1"], 2_000)
        make.credit_note(seeded["CREDITED-1"], 1_000)
        clerk = make.user(acme, email="clerk@acme.test")
        raise_dispute(session, services().disputes, clerk, invoice=seeded["DISPUTED-1"],
                      claim=DisputeClaim(reason="damaged", message="Broken.", amount=5_000))
        closed = raise_dispute(session, services().disputes, clerk, invoice=seeded["WAS-DISPUTED-1"],
                               claim=DisputeClaim(reason="damaged", message="Broken.",
                                                  line_ids=(seeded["WAS-DISPUTED-1"].lines[0].id,)))
        withdraw_dispute(session, services().disputes, clerk, closed)
        in_flight = seeded["IN-FLIGHT-1"]
        payment = Payment(company_id=acme.id, amount=in_flight.amount_due, currency="EUR",
                          status=PaymentStatus.PROCESSING, idempotency_key="pay-in-flight",
                          allocations=[PaymentAllocation(invoice_id=in_flight.id, amount=in_flight.amount_due)])
        session.add(payment)
        session.flush()
        session.add(InvoicePaymentClaim(invoice_id=in_flight.id, payment_id=payment.id))
        void_invoice(session, Builders.ACTOR, seeded["VOID-1"], "duplicate")
        _, key = create_api_key(session, "erp")
        session.commit()
        self.headers = {"Authorization": f"Bearer {key}"}
        self.client = self.app.test_client()
        self.audit_after = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
        self.outbox_after = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0

    def close(self) -> None:
        database.session.close()
        database.engine.dispose()
        self.context.pop()

    def one_by_one(self, items: list[tuple[str, dict]]) -> list[tuple]:
        answers = []
        for number, sent in items:
            response = self.client.put(f"{API}/invoices/{number}", json=sent, headers=self.headers)
            answer = response.get_json()
            if response.status_code < 300:
                answers.append((number, answer["outcome"]))
            else:
                answers.append((number, answer["error"]["code"], answer["error"]["message"], answer["error"]["field"]))
        return answers

    def in_batches(self, items: list[tuple[str, dict]], size: int) -> list[tuple]:
        answers = []
        for start in range(0, len(items), size):
            chunk = items[start:start + size]
            response = self.client.post(f"{API}/invoices:batch", headers=self.headers,
                                        json={"invoices": [{"number": number, **sent} for number, sent in chunk]})
            assert response.status_code == 200, response.get_json()
            for result in response.get_json()["results"]:
                if "outcome" in result:
                    answers.append((result["number"], result["outcome"]))
                else:
                    error = result["error"]
                    # The single PUT names the field alone; the batch prefixes it with the item.
                    prefix = f"invoices[{result['index']}]"
                    field = error["field"].removeprefix(prefix).removeprefix(".") or None
                    answers.append((result["number"], error["code"], error["message"], field))
        return answers

    def rows(self) -> dict:
        """What the load wrote, as comparable values: no ids, no timestamps, references by number."""
        session = database.session
        session.expire_all()
        about, attached = aliased(Invoice), aliased(Invoice)
        return {
            "invoices": sorted(
                (*row, repr(sorted(custom.items())))
                for *row, custom in session.execute(select(
                    Invoice.number, Company.external_ref, Invoice.po_number, Invoice.issue_date, Invoice.due_date,
                    Invoice.currency, Invoice.amount_net, Invoice.amount_tax, Invoice.amount_total,
                    Invoice.amount_paid, Invoice.amount_credited, Invoice.custom_fields_text,
                    Invoice.pay_link_version, Invoice.issued_at.is_not(None), Invoice.voided_at.is_not(None),
                    Invoice.custom_fields,
                ).join(Company, Company.id == Invoice.company_id))
            ),
            "lines": sorted(session.execute(select(
                Invoice.number, InvoiceLine.position, InvoiceLine.description, InvoiceLine.quantity,
                InvoiceLine.unit_amount, InvoiceLine.tax_rate, InvoiceLine.amount_net, InvoiceLine.amount_tax,
            ).join(Invoice, Invoice.id == InvoiceLine.invoice_id)).all()),
            # Per invoice in the order written; the details as text, as dicts do not sort.
            "audit": [
                (number, action, actor, company, amount, currency, repr(sorted(details.items())))
                for number, action, actor, company, amount, currency, details, _ in sorted(
                    session.execute(select(
                        Invoice.number, AuditEvent.action, AuditEvent.actor_label, Company.external_ref,
                        AuditEvent.amount, AuditEvent.currency, AuditEvent.details, AuditEvent.id,
                    ).outerjoin(Invoice, Invoice.id == AuditEvent.invoice_id)
                     .outerjoin(Company, Company.id == AuditEvent.company_id)
                     .where(AuditEvent.id > self.audit_after)).all(),
                    key=lambda row: (row[0] or "", row[7]))
            ],
            "outbox": sorted(
                (about_number or "", attached_number or "", repr(recipients), compose, attach_format, locale, status,
                 subject, body_text)
                for about_number, attached_number, recipients, compose, attach_format, locale, status, subject, body_text
                in session.execute(select(
                    about.number, attached.number, OutboxMessage.recipients, OutboxMessage.compose,
                    OutboxMessage.attach_format, OutboxMessage.locale, OutboxMessage.status, OutboxMessage.subject,
                    OutboxMessage.body_text,
                ).outerjoin(about, about.id == OutboxMessage.about_invoice_id)
                 .outerjoin(attached, attached.id == OutboxMessage.attach_invoice_id)
                 .where(OutboxMessage.id > self.outbox_after))
            ),
        }


@pytest.fixture
def portals(tmp_path_factory):
    one_by_one = Portal(migrated_database(tmp_path_factory, "ingest-one-by-one"))
    one_by_one.context.pop()
    batched = Portal(migrated_database(tmp_path_factory, "ingest-batched"))
    batched.context.pop()
    yield one_by_one, batched
    for portal in (one_by_one, batched):
        portal.context.push()
        portal.close()


def test_a_load_sent_one_by_one_and_in_batches_leaves_the_same_rows_and_answers(portals):
    one_by_one, batched = portals
    answers_alone, answers_batched = [], []

    for round_of_items in load():
        with one_by_one.app.app_context():
            answers_alone += one_by_one.one_by_one(round_of_items)
        with batched.app.app_context():
            answers_batched += batched.in_batches(round_of_items, size=7)

    assert answers_batched == answers_alone
    outcomes = {answer[1] for answer in answers_alone}
    assert outcomes >= {"created", "updated", "unchanged", "validation_error", "unknown_company",
                        "invoice_company_mismatch", "invoice_void", "invoice_has_payments", "invoice_disputed",
                        "invoice_lines_in_closed_dispute", "payment_in_progress"}
    with one_by_one.app.app_context():
        rows_alone = one_by_one.rows()
    with batched.app.app_context():
        rows_batched = batched.rows()
    assert rows_batched == rows_alone
    # The comparison compared something: every kind of row the load writes.
    assert len(rows_alone["invoices"]) == 31 + len(SEEDED)  # NEW-BAD-DATES, put right in the second round
    assert {row[1] for row in rows_alone["audit"]} == {"invoice.created", "invoice.issued", "invoice.sent",
                                                        "invoice.updated"}
    # ACME's two recipients get each of its 21 new invoices, composed when sent; BETA has none.
    assert len(rows_alone["outbox"]) == 42
    assert {(row[4], row[7]) for row in rows_alone["outbox"]} == {("pdf", ""), (None, "")}
