from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.errors import InvalidInvoice, InvoiceConflict, UnknownCompany
from portal.billing.invoices import LineInput, void_invoice
from portal.billing.sync import CompanyData, InvoiceData, Outcome, upsert_company, upsert_invoice
from portal.models import AuditEvent, InvoiceLine

ERP = Actor(label="api:erp")


def invoice_data(company_ref="ACME", **overrides) -> InvoiceData:
    values = dict(
        company_ref=company_ref, po_number="PO-77", issue_date=date(2026, 11, 1), due_date=date(2026, 12, 1),
        currency="EUR",
        lines=[LineInput(description="Widgets", quantity=Decimal(3), unit_amount=1999, tax_rate=Decimal("20.00"))],
        custom_fields={"cost_centre": "R&D"},
    )
    values.update(overrides)
    return InvoiceData(**values)


@pytest.fixture
def acme(db):
    company, _ = upsert_company(db, ERP, "ACME", CompanyData(name="Acme SAS", billing_emails=["ap@acme.test"]))
    return company


def test_a_company_is_created_then_left_unchanged_by_the_same_data(db):
    data = CompanyData(name="Acme SAS", billing_emails=["ap@acme.test"], locale="fr", currency="EUR")
    _, first = upsert_company(db, ERP, "ACME", data)
    _, second = upsert_company(db, ERP, "ACME", data)
    assert (first, second) == (Outcome.CREATED, Outcome.UNCHANGED)


def test_a_company_update_changes_only_what_differs_and_is_audited(db, acme):
    company, outcome = upsert_company(db, ERP, "ACME", CompanyData(name="Acme Group", billing_emails=["ap@acme.test"]))
    assert outcome == Outcome.UPDATED and company.name == "Acme Group"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "company.updated"))
    assert event.details["changed"] == ["name"]


def test_a_company_with_a_made_up_currency_is_refused(db):
    with pytest.raises(InvalidInvoice) as refused:
        upsert_company(db, ERP, "X", CompanyData(name="X", billing_emails=[], currency="EUX"))
    assert refused.value.field == "currency"


def test_an_invoice_is_created_issued_with_its_amounts_computed(db, acme):
    invoice, outcome = upsert_invoice(db, ERP, "INV-0001", invoice_data())
    assert outcome == Outcome.CREATED
    assert (invoice.amount_net, invoice.amount_tax, invoice.amount_total) == (5997, 1199, 7196)
    assert invoice.issued_at is not None


def test_the_same_invoice_twice_changes_nothing_and_says_so(db, acme):
    upsert_invoice(db, ERP, "INV-0001", invoice_data())
    lines_before = db.scalar(select(func.count()).select_from(InvoiceLine))
    events_before = db.scalar(select(func.count()).select_from(AuditEvent))
    _, outcome = upsert_invoice(db, ERP, "INV-0001", invoice_data())
    assert outcome == Outcome.UNCHANGED
    assert db.scalar(select(func.count()).select_from(InvoiceLine)) == lines_before
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events_before


def test_changing_lines_of_an_unpaid_invoice_recomputes_its_total(db, acme):
    upsert_invoice(db, ERP, "INV-0001", invoice_data())
    new_lines = [LineInput(description="Widgets", quantity=Decimal(4), unit_amount=1999, tax_rate=Decimal("20.00"))]
    invoice, outcome = upsert_invoice(db, ERP, "INV-0001", invoice_data(lines=new_lines))
    assert outcome == Outcome.UPDATED
    assert invoice.amount_total == 7996 + 1599
    assert len(invoice.lines) == 1


def test_changing_amounts_of_an_invoice_with_a_payment_is_refused(db, acme, make):
    invoice, _ = upsert_invoice(db, ERP, "INV-0001", invoice_data())
    make.payment(invoice, 1000)
    new_lines = [LineInput(description="Widgets", quantity=Decimal(1), unit_amount=1999, tax_rate=Decimal("20.00"))]
    with pytest.raises(InvoiceConflict) as refused:
        upsert_invoice(db, ERP, "INV-0001", invoice_data(lines=new_lines))
    assert refused.value.code == "invoice_has_payments"
    assert invoice.amount_total == 7196


def test_terms_of_a_paid_invoice_may_still_change(db, acme, make):
    invoice, _ = upsert_invoice(db, ERP, "INV-0001", invoice_data())
    make.payment(invoice, 1000)
    _, outcome = upsert_invoice(db, ERP, "INV-0001", invoice_data(po_number="PO-78"))
    assert outcome == Outcome.UPDATED and invoice.po_number == "PO-78"


def test_a_void_invoice_cannot_be_changed(db, acme):
    invoice, _ = upsert_invoice(db, ERP, "INV-0001", invoice_data())
    void_invoice(db, ERP, invoice, "duplicate")
    with pytest.raises(InvoiceConflict) as refused:
        upsert_invoice(db, ERP, "INV-0001", invoice_data(po_number="PO-99"))
    assert refused.value.code == "invoice_void"


def test_an_invoice_cannot_move_to_another_company(db, acme):
    upsert_company(db, ERP, "OTHER", CompanyData(name="Other", billing_emails=[]))
    upsert_invoice(db, ERP, "INV-0001", invoice_data())
    with pytest.raises(InvoiceConflict) as refused:
        upsert_invoice(db, ERP, "INV-0001", invoice_data(company_ref="OTHER"))
    assert refused.value.code == "invoice_company_mismatch"


def test_an_invoice_for_an_unknown_company_is_refused(db):
    with pytest.raises(UnknownCompany):
        upsert_invoice(db, ERP, "INV-0001", invoice_data(company_ref="NOPE"))


def test_a_due_date_before_the_issue_date_is_refused_on_update_too(db, acme):
    upsert_invoice(db, ERP, "INV-0001", invoice_data())
    with pytest.raises(InvalidInvoice) as refused:
        upsert_invoice(db, ERP, "INV-0001", invoice_data(due_date=date(2026, 10, 1)))
    assert refused.value.field == "due_date"
