"""The API driven as a supplier's ERP drives it: customers and invoices in, a void, a credit
note, payments read back for reconciliation, and the whole load sent again changing nothing.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from portal import clock
from portal.db import Base
from portal.models import (
    AuditEvent,
    Company,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoicePaymentClaim,
    OutboxMessage,
    Payment,
    PaymentAllocation,
    PaymentStatus,
)
from portal.payments.ledger import record_offline_payment
from tests.api.conftest import ErpClient, create_key_with_cli
from tests.builders import Builders

TODAY = clock.today()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def invoice_body(company_ref="ACME", *, issued=-5, due=25, po="PO-A", currency="EUR", lines=None, **extra) -> dict:
    return {
        "company_ref": company_ref, "po_number": po, "issue_date": day(issued), "due_date": day(due),
        "currency": currency,
        "lines": lines or [{"description": "Pallets", "quantity": 3, "unit_amount": 1999, "tax_rate": "20.00"}],
        **extra,
    }


# What an ERP sends on a morning: its customers, their invoices, a cancellation and a credit.
ERP_LOAD = [
    ("PUT", "/companies/ACME", {"name": "Acme SAS", "billing_emails": ["ap@acme.test"], "locale": "fr",
                                "currency": "EUR"}),
    ("PUT", "/companies/GLOBEX", {"name": "Globex Inc.", "billing_emails": [], "locale": "en", "currency": "USD"}),
    ("PUT", "/invoices/INV-1001", invoice_body(
        issued=-40, due=-10, lines=[
            {"description": "Pallets", "quantity": 3, "unit_amount": 1999, "tax_rate": "20.00"},
            {"description": "Delivery", "quantity": "2.5", "unit_amount": 1000, "tax_rate": "5.5"},
        ], custom_fields={"cost_centre": "R&D", "buyer": "J. Martin"})),
    ("PUT", "/invoices/INV-1002", invoice_body(po="PO-B")),
    ("PUT", "/invoices/INV-1003", invoice_body()),
    ("PUT", "/invoices/INV-1004", invoice_body(lines=[{"description": "Crates", "quantity": 1,
                                                       "unit_amount": 50_000}])),
    ("PUT", "/invoices/INV-2001", invoice_body("GLOBEX", currency="USD", po=None, issued=-60, due=-30)),
    ("POST", "/invoices/INV-1003/void", {"reason": "issued twice"}),
    ("POST", "/credit-notes", {"number": "CN-1", "invoice_number": "INV-1004", "amount": 5_000,
                               "issue_date": day(-1), "reason": "damaged crates"}),
]


def send(erp: ErpClient, method: str, path: str, body: dict):
    return erp.put(path, body) if method == "PUT" else erp.post(path, body)


def database_snapshot(session) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: audit trail and outbox included."""
    return {
        table.name: [tuple(row) for row in session.execute(select(table).order_by(*table.primary_key.columns))]
        for table in Base.metadata.sorted_tables
    }


def test_an_erp_load_replayed_leaves_the_database_identical_and_payments_read_back(app, db, client):
    erp = ErpClient(client, create_key_with_cli(app, "erp"))
    started = datetime.now(UTC) - timedelta(seconds=1)

    first = [send(erp, *request) for request in ERP_LOAD]

    assert [response.status_code for response in first] == [201, 201, 201, 201, 201, 201, 201, 200, 201]
    assert [response.get_json().get("outcome") for response in first] == ["created"] * 7 + [None, "created"]

    # The customer pays: part of the overdue invoice, all of another, by bank transfer.
    invoices = {invoice.number: invoice for invoice in db.scalars(select(Invoice))}
    partial = record_offline_payment(db, Builders.ACTOR, company=invoices["INV-1001"].company,
                                     allocations=[(invoices["INV-1001"], 4_000)], method_summary="Bank transfer",
                                     reference="TRF-1")
    full = record_offline_payment(db, Builders.ACTOR, company=invoices["INV-1002"].company,
                                  allocations=[(invoices["INV-1002"], invoices["INV-1002"].amount_total)],
                                  method_summary="Bank transfer", reference="TRF-2")
    db.commit()

    payments = erp.get("/payments", query_string={"since": started.isoformat()})
    assert payments.status_code == 200
    assert [(p["id"], p["company_ref"], p["amount"], p["currency"], p["reference"]) for p in
            payments.get_json()["data"]] == [(partial.id, "ACME", 4_000, "EUR", "TRF-1"),
                                             (full.id, "ACME", 7_196, "EUR", "TRF-2")]
    assert [[(a["invoice_number"], a["amount"]) for a in p["allocations"]] for p in payments.get_json()["data"]] == [
        [("INV-1001", 4_000)], [("INV-1002", 7_196)]]

    before = database_snapshot(db)
    assert {name: len(before[name]) for name in ("company", "invoice", "invoice_line", "credit_note", "payment",
                                                 "payment_allocation")} == {
        "company": 2, "invoice": 5, "invoice_line": 6, "credit_note": 1, "payment": 2, "payment_allocation": 2}
    audit_rows = len(before["audit_event"])

    for _replay in range(2):
        again = [send(erp, *request) for request in ERP_LOAD]

        assert [response.status_code for response in again] == [200] * len(ERP_LOAD)
        assert [response.get_json().get("outcome") for response in again] == ["unchanged"] * 7 + [None, "unchanged"]
        assert database_snapshot(db) == before
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows


def test_an_invoice_sent_twice_is_created_then_unchanged_with_its_amounts_and_custom_fields(erp):
    erp.put("/companies/ACME", {"name": "Acme SAS"})
    body = ERP_LOAD[2][2]

    created = erp.put("/invoices/INV-1001", body)
    replayed = erp.put("/invoices/INV-1001", body)

    assert (created.status_code, created.get_json()["outcome"]) == (201, "created")
    assert (replayed.status_code, replayed.get_json()["outcome"]) == (200, "unchanged")
    invoice = created.get_json()
    # 3 × 19.99 = 59.97 (+20 % = 11.99); 2.5 × 10.00 = 25.00 (+5.5 % = 1.375, rounded half up to 1.38)
    assert (invoice["amount_net"], invoice["amount_tax"], invoice["amount_total"]) == (8_497, 1_337, 9_834)
    assert (invoice["amount_due"], invoice["status"], invoice["company_ref"]) == (9_834, "overdue", "ACME")
    assert invoice["custom_fields"] == {"cost_centre": "R&D", "buyer": "J. Martin"}
    assert [(line["quantity"], line["amount_net"], line["amount_tax"]) for line in invoice["lines"]] == [
        ("3", 5_997, 1_199), ("2.5", 2_500, 138)]


def test_changing_an_unpaid_invoice_updates_it_and_changing_custom_fields_alone_is_an_update(erp, db):
    erp.put("/companies/ACME", {"name": "Acme SAS"})
    erp.put("/invoices/INV-1", invoice_body())

    more = erp.put("/invoices/INV-1", invoice_body(lines=[{"description": "Pallets", "quantity": 4,
                                                           "unit_amount": 1999, "tax_rate": "20.00"}]))
    tagged = erp.put("/invoices/INV-1", invoice_body(lines=[{"description": "Pallets", "quantity": 4,
                                                             "unit_amount": 1999, "tax_rate": "20.00"}],
                                                     custom_fields={"project": "Lyon"}))

    assert (more.status_code, more.get_json()["outcome"], more.get_json()["amount_total"]) == (200, "updated", 9_595)
    assert (tagged.get_json()["outcome"], tagged.get_json()["custom_fields"]) == ("updated", {"project": "Lyon"})
    invoice = db.scalar(select(Invoice).where(Invoice.number == "INV-1"))
    assert (invoice.amount_total, invoice.custom_fields) == (9_595, {"project": "Lyon"})
    assert db.scalar(select(func.count()).select_from(InvoiceLine)) == 1


@pytest.fixture
def acme(erp):
    assert erp.put("/companies/ACME", {"name": "Acme SAS", "billing_emails": ["ap@acme.test"]}).status_code == 201


def _invoice(db, number: str) -> Invoice:
    return db.scalar(select(Invoice).where(Invoice.number == number))


def test_get_invoice_shows_what_is_due_after_a_payment_and_a_credit_note(erp, db, make, acme):
    erp.put("/invoices/INV-1", invoice_body(lines=[{"description": "Crates", "quantity": 1, "unit_amount": 10_000}]))
    payment = make.payment(_invoice(db, "INV-1"), 3_000)
    db.commit()
    erp.post("/credit-notes", {"number": "CN-1", "invoice_number": "INV-1", "amount": 1_500, "reason": "late"})

    response = erp.get("/invoices/INV-1")

    assert response.status_code == 200
    invoice = response.get_json()
    assert (invoice["amount_total"], invoice["amount_paid"], invoice["amount_credited"], invoice["amount_due"]) == (
        10_000, 3_000, 1_500, 5_500)
    assert invoice["status"] == "partially_paid"
    assert [(a["payment_id"], a["amount"]) for a in invoice["allocations"]] == [(payment.id, 3_000)]
    assert [(note["number"], note["amount"], note["issue_date"]) for note in invoice["credit_notes"]] == [
        ("CN-1", 1_500, TODAY.isoformat())]


def test_voiding_an_invoice_owes_nothing_and_voiding_again_changes_nothing(erp, db, acme):
    erp.put("/invoices/INV-1", invoice_body())

    voided = erp.post("/invoices/INV-1/void", {"reason": "issued twice"})
    audit_rows = db.scalar(select(func.count()).select_from(AuditEvent))
    again = erp.post("/invoices/INV-1/void", {"reason": "another reason"})

    assert voided.status_code == again.status_code == 200
    assert (voided.get_json()["status"], voided.get_json()["amount_due"]) == ("void", 0)
    assert voided.get_json()["voided_at"] == again.get_json()["voided_at"]
    invoice = _invoice(db, "INV-1")
    assert (invoice.void_reason, invoice.voided_at is not None) == ("issued twice", True)
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows
    changed = erp.put("/invoices/INV-1", invoice_body(po="PO-NEW"))
    assert (changed.status_code, changed.get_json()["error"]["code"]) == (409, "invoice_void")


def test_voiding_an_invoice_with_a_payment_is_refused_with_409_and_changes_nothing(erp, db, make, acme):
    erp.put("/invoices/INV-1", invoice_body())
    make.payment(_invoice(db, "INV-1"), 100)
    db.commit()

    response = erp.post("/invoices/INV-1/void", {"reason": "too late"})

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invoice_has_payments"
    assert "refund" in response.get_json()["error"]["message"]
    db.expire_all()
    assert _invoice(db, "INV-1").voided_at is None


def test_changing_the_lines_of_a_disputed_invoice_is_refused_but_its_terms_may_change(app, erp, db, make, acme):
    from portal.blueprints.app_services import services
    from portal.disputes.service import DisputeClaim, raise_dispute

    erp.put("/invoices/INV-1", invoice_body())
    invoice = _invoice(db, "INV-1")
    with app.app_context():
        raise_dispute(db, services().disputes, make.user(invoice.company), invoice=invoice,
                      claim=DisputeClaim(reason="damaged", message="Line one arrived broken.",
                                         line_ids=(invoice.lines[0].id,)))
    db.commit()
    lines_before = [(line.id, line.amount_total) for line in invoice.lines]

    changed = erp.put("/invoices/INV-1", invoice_body(lines=[
        {"description": "Other", "quantity": 1, "unit_amount": 999, "tax_rate": "20.00"}]))
    retermed = erp.put("/invoices/INV-1", invoice_body(po="PO-B"))

    assert (changed.status_code, changed.get_json()["error"]["code"]) == (409, "invoice_disputed")
    assert changed.get_json()["error"]["field"] == "lines"
    assert "dispute in progress on line(s) 1" in changed.get_json()["error"]["message"]
    assert "credit note" in changed.get_json()["error"]["message"]
    assert (retermed.status_code, retermed.get_json()["po_number"]) == (200, "PO-B")
    db.expire_all()
    assert [(line.id, line.amount_total) for line in _invoice(db, "INV-1").lines] == lines_before


MORE_PALLETS = [{"description": "Pallets", "quantity": 4, "unit_amount": 1999, "tax_rate": "20.00"}]


def amounts_and_lines(db, number: str) -> tuple:
    """What a refused update must leave as it was: currency, amounts and the line rows themselves."""
    db.expire_all()
    invoice = _invoice(db, number)
    return (invoice.currency, invoice.amount_net, invoice.amount_tax, invoice.amount_total,
            [(line.id, line.description, line.quantity, line.unit_amount, line.tax_rate) for line in invoice.lines])


def card_payment_in_flight(db, invoice: Invoice) -> Payment:
    """What a card payment has committed while the bank has not answered yet (3-D Secure, a timeout):
    a processing payment of what is due, allocated to the invoice, and the invoice's claim."""
    payment = Payment(company_id=invoice.company_id, amount=invoice.amount_due, currency=invoice.currency,
                      status=PaymentStatus.PROCESSING, idempotency_key=f"pay-{invoice.company_id}-tab-1",
                      method_summary="Visa •••• 3184",
                      allocations=[PaymentAllocation(invoice_id=invoice.id, amount=invoice.amount_due)])
    db.add(payment)
    db.flush()
    db.add(InvoicePaymentClaim(invoice_id=invoice.id, payment_id=payment.id))
    db.commit()
    return payment


def card_payment_declined(db, payment: Payment) -> None:
    """The bank said no: the payment failed and let go of its invoices."""
    payment.status = PaymentStatus.FAILED
    db.execute(delete(InvoicePaymentClaim).where(InvoicePaymentClaim.payment_id == payment.id))
    db.commit()


def test_an_invoice_being_paid_by_card_keeps_its_lines_and_currency_until_the_payment_ends(erp, db, acme):
    erp.put("/invoices/INV-1", invoice_body())
    payment = card_payment_in_flight(db, _invoice(db, "INV-1"))
    before = amounts_and_lines(db, "INV-1")

    relined = erp.put("/invoices/INV-1", invoice_body(lines=MORE_PALLETS))
    in_dollars = erp.put("/invoices/INV-1", invoice_body(currency="USD"))

    for refused in (relined, in_dollars):
        assert refused.status_code == 409
        error = refused.get_json()["error"]
        assert error["code"] == "payment_in_progress"
        assert error["message"] == "a card payment of this invoice is in progress; try again once it has finished"
    assert amounts_and_lines(db, "INV-1") == before

    card_payment_declined(db, payment)
    retried = erp.put("/invoices/INV-1", invoice_body(lines=MORE_PALLETS))

    assert (retried.status_code, retried.get_json()["outcome"], retried.get_json()["amount_total"]) == (
        200, "updated", 9_595)


def test_the_terms_of_an_invoice_being_paid_by_card_may_change(erp, db, acme):
    erp.put("/invoices/INV-1", invoice_body())
    card_payment_in_flight(db, _invoice(db, "INV-1"))
    before = amounts_and_lines(db, "INV-1")

    retermed = erp.put("/invoices/INV-1", invoice_body(po="PO-B", due=40, custom_fields={"project": "Lyon"}))
    replayed = erp.put("/invoices/INV-1", invoice_body(po="PO-B", due=40, custom_fields={"project": "Lyon"}))

    assert (retermed.status_code, retermed.get_json()["outcome"]) == (200, "updated")
    assert (retermed.get_json()["po_number"], retermed.get_json()["due_date"]) == ("PO-B", day(40))
    assert (replayed.status_code, replayed.get_json()["outcome"]) == (200, "unchanged")
    assert amounts_and_lines(db, "INV-1") == before


def raise_dispute_as_customer(app, db, make, invoice: Invoice, **claim):
    from portal.blueprints.app_services import services
    from portal.disputes.service import DisputeClaim, raise_dispute

    clerk = make.user(invoice.company)
    with app.app_context():
        dispute = raise_dispute(db, services().disputes, clerk, invoice=invoice,
                                claim=DisputeClaim(reason="damaged", message="Not what we ordered.", **claim))
    db.commit()
    return clerk, dispute


def test_an_invoice_disputed_in_part_of_its_amount_keeps_its_lines_and_currency_while_the_dispute_lasts(
        app, erp, db, make, acme):
    erp.put("/invoices/INV-1", invoice_body())
    raise_dispute_as_customer(app, db, make, _invoice(db, "INV-1"), amount=1_000)
    before = amounts_and_lines(db, "INV-1")

    relined = erp.put("/invoices/INV-1", invoice_body(lines=MORE_PALLETS))
    in_dollars = erp.put("/invoices/INV-1", invoice_body(currency="USD"))
    retermed = erp.put("/invoices/INV-1", invoice_body(po="PO-B"))

    assert [(r.status_code, r.get_json()["error"]["code"]) for r in (relined, in_dollars)] == [
        (409, "invoice_disputed")] * 2
    assert "dispute in progress over part of its amount" in relined.get_json()["error"]["message"]
    assert (retermed.status_code, retermed.get_json()["po_number"]) == (200, "PO-B")
    assert amounts_and_lines(db, "INV-1") == before


def test_after_a_dispute_of_its_lines_closes_an_invoice_keeps_those_lines_but_its_terms_may_change(
        app, erp, db, make, acme):
    from portal.blueprints.app_services import services
    from portal.disputes.service import withdraw_dispute

    erp.put("/invoices/INV-1", invoice_body())
    invoice = _invoice(db, "INV-1")
    clerk, dispute = raise_dispute_as_customer(app, db, make, invoice, line_ids=(invoice.lines[0].id,))
    with app.app_context():
        withdraw_dispute(db, services().disputes, clerk, dispute)
    db.commit()
    before = amounts_and_lines(db, "INV-1")

    relined = erp.put("/invoices/INV-1", invoice_body(lines=MORE_PALLETS))
    in_dollars = erp.put("/invoices/INV-1", invoice_body(currency="USD"))
    retermed = erp.put("/invoices/INV-1", invoice_body(po="PO-B"))

    assert [(r.status_code, r.get_json()["error"]["code"]) for r in (relined, in_dollars)] == [
        (409, "invoice_lines_in_closed_dispute")] * 2
    assert "credit note" in relined.get_json()["error"]["message"]
    assert (retermed.status_code, retermed.get_json()["po_number"]) == (200, "PO-B")
    assert amounts_and_lines(db, "INV-1") == before


def test_after_a_dispute_of_part_of_its_amount_is_rejected_an_unpaid_invoice_may_be_corrected(
        app, erp, db, make, acme):
    from portal.blueprints.app_services import services
    from portal.disputes.service import reject_dispute

    erp.put("/invoices/INV-1", invoice_body())
    _, dispute = raise_dispute_as_customer(app, db, make, _invoice(db, "INV-1"), amount=1_000)
    with app.app_context():
        reject_dispute(db, services().disputes, make.staff(), dispute, reason="Delivered as ordered.")
    db.commit()

    relined = erp.put("/invoices/INV-1", invoice_body(lines=MORE_PALLETS))

    assert (relined.status_code, relined.get_json()["outcome"], relined.get_json()["amount_total"]) == (
        200, "updated", 9_595)


def test_a_credit_note_is_created_once_replayed_unchanged_and_a_conflicting_one_refused(erp, db, acme):
    erp.put("/invoices/INV-1", invoice_body())
    note = {"number": "CN-7", "invoice_number": "INV-1", "amount": 1_000, "issue_date": day(0), "reason": "damaged"}

    created = erp.post("/credit-notes", note)
    replayed = erp.post("/credit-notes", note)
    conflicting = erp.post("/credit-notes", {**note, "amount": 2_000})

    assert (created.status_code, created.get_json()["outcome"]) == (201, "created")
    assert (replayed.status_code, replayed.get_json()["outcome"]) == (200, "unchanged")
    assert created.get_json() | {"outcome": None} == replayed.get_json() | {"outcome": None}
    assert (conflicting.status_code, conflicting.get_json()["error"]["code"],
            conflicting.get_json()["error"]["field"]) == (409, "credit_note_exists", "number")
    assert [(n.number, n.amount) for n in db.scalars(select(CreditNote))] == [("CN-7", 1_000)]
    db.expire_all()
    assert _invoice(db, "INV-1").amount_credited == 1_000


def test_a_credit_note_beyond_what_is_due_is_refused(erp, acme):
    erp.put("/invoices/INV-1", invoice_body(lines=[{"description": "Crates", "quantity": 1, "unit_amount": 1_000}]))

    response = erp.post("/credit-notes", {"number": "CN-1", "invoice_number": "INV-1", "amount": 1_001})

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "amount"


def test_changing_amounts_after_a_payment_is_refused_with_the_reason_but_terms_may_change(erp, db, make, acme):
    erp.put("/invoices/INV-1", invoice_body())
    make.payment(_invoice(db, "INV-1"), 1_000)
    db.commit()

    more = erp.put("/invoices/INV-1", invoice_body(lines=[{"description": "Pallets", "quantity": 4,
                                                           "unit_amount": 1999, "tax_rate": "20.00"}]))
    later = erp.put("/invoices/INV-1", invoice_body(due=45))

    assert more.status_code == 409
    assert more.get_json()["error"]["code"] == "invoice_has_payments"
    assert more.get_json()["error"]["field"] == "lines"
    assert "credit note" in more.get_json()["error"]["message"]
    assert (later.status_code, later.get_json()["outcome"], later.get_json()["due_date"]) == (200, "updated", day(45))
    db.expire_all()
    invoice = _invoice(db, "INV-1")
    assert (invoice.amount_total, invoice.due_date.isoformat()) == (7_196, day(45))


def test_invoice_list_filters_by_company_status_po_and_dates(erp, db, make, acme):
    erp.put("/companies/GLOBEX", {"name": "Globex", "currency": "USD"})
    sent = {
        "A-OPEN": invoice_body(po="PO-1", issued=-5, due=25),
        "A-LATE": invoice_body(po="PO-1", issued=-40, due=-10),
        "A-PAID": invoice_body(po="PO-2", issued=-20, due=10),
        "A-VOID": invoice_body(po="PO-2", issued=-3, due=27),
        "G-OPEN": invoice_body("GLOBEX", currency="USD", po="PO-1", issued=-1, due=29),
    }
    for number, body in sent.items():
        assert erp.put(f"/invoices/{number}", body).status_code == 201
    make.payment(_invoice(db, "A-PAID"), _invoice(db, "A-PAID").amount_total)
    db.commit()
    erp.post("/invoices/A-VOID/void", {})

    def numbers(**query) -> list[str]:
        response = erp.get("/invoices", query_string=query)
        assert response.status_code == 200, response.get_json()
        return [invoice["number"] for invoice in response.get_json()["data"]]

    assert numbers() == list(sent)
    assert numbers(company="ACME") == ["A-OPEN", "A-LATE", "A-PAID", "A-VOID"]
    assert numbers(company="GLOBEX") == ["G-OPEN"]
    assert numbers(company="NOBODY") == []
    assert numbers(status="open") == ["A-OPEN", "G-OPEN"]
    assert numbers(status="overdue") == ["A-LATE"]
    assert numbers(status="paid") == ["A-PAID"]
    assert numbers(status="void") == ["A-VOID"]
    assert numbers(po_number="PO-1") == ["A-OPEN", "A-LATE", "G-OPEN"]
    assert numbers(po_number="PO-1", company="ACME", status="overdue") == ["A-LATE"]
    assert numbers(issued_from=day(-5)) == ["A-OPEN", "A-VOID", "G-OPEN"]
    assert numbers(issued_to=day(-20)) == ["A-LATE", "A-PAID"]
    assert numbers(issued_from=day(-20), issued_to=day(-4)) == ["A-OPEN", "A-PAID"]
    assert numbers(due_from=day(26)) == ["A-VOID", "G-OPEN"]
    assert numbers(due_to=day(10)) == ["A-LATE", "A-PAID"]
    # The list leaves out what only the one-invoice answer carries.
    listed = erp.get("/invoices", query_string={"company": "GLOBEX"}).get_json()["data"][0]
    assert (listed["currency"], listed["amount_due"]) == ("USD", 7_196)
    assert "lines" not in listed and "allocations" not in listed


def test_cursor_pagination_walks_every_invoice_once_in_order(erp, acme):
    numbers = [f"INV-{n:03d}" for n in range(1, 24)]
    for number in numbers:
        assert erp.put(f"/invoices/{number}", invoice_body()).status_code == 201

    pages, cursor = [], None
    while True:
        response = erp.get("/invoices", query_string={"limit": 5, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        page = response.get_json()
        pages.append([invoice["number"] for invoice in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert [number for page in pages for number in page] == numbers


def test_a_page_that_ends_exactly_at_the_last_invoice_has_no_next_cursor(erp, acme):
    for n in range(4):
        erp.put(f"/invoices/INV-{n}", invoice_body())

    first = erp.get("/invoices", query_string={"limit": 2}).get_json()
    second = erp.get("/invoices", query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()

    assert [len(first["data"]), len(second["data"])] == [2, 2]
    assert second["next_cursor"] is None


def test_payments_since_a_time_lists_succeeded_payments_in_order_with_their_allocations_by_page(erp, db, acme):
    erp.put("/invoices/INV-1", invoice_body())
    erp.put("/invoices/INV-2", invoice_body())
    one, two = _invoice(db, "INV-1"), _invoice(db, "INV-2")
    noon = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def pay(allocations, hours: int, reference: str):
        return record_offline_payment(db, Builders.ACTOR, company=one.company, allocations=allocations,
                                      method_summary="Bank transfer", reference=reference,
                                      now=noon + timedelta(hours=hours))

    pay([(one, 100)], -24, "OLD")
    split = pay([(one, 1_000), (two, 2_000)], 0, "SPLIT")
    later = pay([(two, 500)], 3, "LATER")
    db.commit()

    page = erp.get("/payments", query_string={"since": "2026-11-02T12:00:00Z", "limit": 1}).get_json()
    rest = erp.get("/payments", query_string={"since": "2026-11-02T13:00:00+01:00", "limit": 1,
                                              "cursor": page["next_cursor"]}).get_json()

    assert [p["reference"] for p in page["data"] + rest["data"]] == ["SPLIT", "LATER"]
    assert rest["next_cursor"] is None
    first = page["data"][0]
    assert (first["id"], first["amount"], first["method"], first["status"]) == (split.id, 3_000, "Bank transfer",
                                                                                "succeeded")
    assert datetime.fromisoformat(first["succeeded_at"]) == noon
    assert [(a["invoice_number"], a["amount"], a["payment_id"]) for a in first["allocations"]] == [
        ("INV-1", 1_000, split.id), ("INV-2", 2_000, split.id)]
    assert rest["data"][0]["id"] == later.id
    everything = erp.get("/payments").get_json()["data"]
    assert [p["reference"] for p in everything] == ["OLD", "SPLIT", "LATER"]


def test_creating_an_invoice_mails_it_to_the_company_once_and_a_replay_does_not(erp, db, acme):
    erp.put("/invoices/INV-1", invoice_body())
    erp.put("/invoices/INV-1", invoice_body())

    assert [message.recipients for message in db.scalars(select(OutboxMessage))] == [["ap@acme.test"]]


def test_the_invoice_list_reads_every_status_in_a_fixed_number_of_queries(app, erp, db, engine, make, acme):
    from portal.blueprints.app_services import services
    from tests.blueprints.test_invoice_list_queries import counting_queries

    with app.app_context():
        context = services().disputes
    company = db.scalar(select(Company).where(Company.external_ref == "ACME"))
    clerk = make.user(company)
    for n in range(30):
        invoice = make.invoice(company, number=f"INV-Q-{n:02d}")
        if n % 2:
            make.dispute(context, invoice, clerk, amount=1_00)
    db.commit()

    counts = []
    for limit in (5, 25):
        with counting_queries(engine) as statements:
            response = erp.get("/invoices", query_string={"company": "ACME", "limit": limit})
        assert response.status_code == 200 and len(response.get_json()["data"]) == limit
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
