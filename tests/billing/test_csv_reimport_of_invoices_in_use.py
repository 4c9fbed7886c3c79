"""Importing a CSV file again with new lines for an invoice something rests on: the same refusals as the
API (the import updates invoices through the same `upsert_invoice`), named by line, nothing imported."""

import io

import pytest
from sqlalchemy import delete, select

from portal.audit import Actor
from portal.billing.csv_import import ImportRejected, import_invoices
from portal.disputes.service import DisputeClaim, raise_dispute, withdraw_dispute
from portal.models import Invoice, InvoicePaymentClaim, Payment, PaymentAllocation, PaymentStatus

IMPORTER = Actor.system("import:test")
HEADER = "invoice_number,company_ref,po_number,issue_date,due_date,currency,description,quantity,unit_amount,tax_rate\n"
FIRST = "INV-1,ACME,PO-1,2026-11-01,2026-12-01,EUR,Widgets,3,1999,20.00"
SECOND_LINE = "INV-1,ACME,PO-1,2026-11-01,2026-12-01,EUR,Delivery,1,500,20.00"
OTHER = "INV-2,ACME,,2026-11-02,2026-12-02,EUR,Consulting,1,10000,20.00"


def csv_rows(*rows: str) -> io.StringIO:
    return io.StringIO(HEADER + "".join(row + "\n" for row in rows))


@pytest.fixture
def imported(db, make) -> Invoice:
    make.company(ref="ACME")
    import_invoices(db, IMPORTER, csv_rows(FIRST, SECOND_LINE))
    return db.scalar(select(Invoice).where(Invoice.number == "INV-1"))


def lines_of(db, number: str) -> list[tuple]:
    db.expire_all()
    invoice = db.scalar(select(Invoice).where(Invoice.number == number))
    return [(line.id, line.description, line.unit_amount) for line in invoice.lines]


def reimport_refusal(db, *rows: str) -> str:
    with pytest.raises(ImportRejected) as rejected:
        import_invoices(db, IMPORTER, csv_rows(*rows))
    db.rollback()
    [error] = rejected.value.errors
    return str(error)


def test_new_lines_for_an_invoice_being_paid_by_card_are_refused_until_the_payment_ends(db, imported):
    payment = Payment(company_id=imported.company_id, amount=imported.amount_due, currency="EUR",
                      status=PaymentStatus.PROCESSING, idempotency_key="pay-csv-1",
                      allocations=[PaymentAllocation(invoice_id=imported.id, amount=imported.amount_due)])
    db.add(payment)
    db.flush()
    db.add(InvoicePaymentClaim(invoice_id=imported.id, payment_id=payment.id))
    db.commit()
    before = lines_of(db, "INV-1")

    refusal = reimport_refusal(db, FIRST, OTHER)

    assert refusal == "line 2: a card payment of this invoice is in progress; try again once it has finished"
    assert lines_of(db, "INV-1") == before
    assert db.scalar(select(Invoice).where(Invoice.number == "INV-2")) is None
    new_po = [row.replace("PO-1", "PO-9") for row in (FIRST, SECOND_LINE)]
    assert import_invoices(db, IMPORTER, csv_rows(*new_po)).outcomes == {"updated": 1}

    payment.status = PaymentStatus.FAILED
    db.execute(delete(InvoicePaymentClaim).where(InvoicePaymentClaim.payment_id == payment.id))
    db.commit()
    assert import_invoices(db, IMPORTER, csv_rows(FIRST, OTHER)).outcomes == {"updated": 1, "created": 1}


def test_new_lines_for_an_invoice_whose_lines_were_disputed_are_refused_not_a_crash(app, db, make, imported):
    from portal.blueprints.app_services import services

    clerk = make.user(imported.company)
    with app.app_context():
        dispute = raise_dispute(db, services().disputes, clerk, invoice=imported,
                                claim=DisputeClaim(reason="damaged", message="Broken.",
                                                   line_ids=(imported.lines[1].id,)))
    db.commit()
    before = lines_of(db, "INV-1")

    while_open = reimport_refusal(db, FIRST)
    with app.app_context():
        withdraw_dispute(db, services().disputes, clerk, dispute)
    db.commit()
    once_closed = reimport_refusal(db, FIRST)

    assert while_open.startswith("line 2, lines: invoice INV-1 has a dispute in progress on line(s) 2")
    assert once_closed.startswith("line 2, lines: lines of invoice INV-1 were disputed")
    assert lines_of(db, "INV-1") == before
