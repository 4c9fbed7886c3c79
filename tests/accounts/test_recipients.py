"""Billing recipients: each address chooses what it receives, and every sender asks `recipients_for`."""

import pytest
from sqlalchemy import select

from portal.accounts.recipients import (
    MAX_RECIPIENTS,
    Recipient,
    RecipientError,
    add_recipient,
    recipients_for,
    remove_recipient,
    update_recipient,
)
from portal.audit import Actor
from portal.billing.sync import CompanyData, Outcome, upsert_company
from portal.guest.links import PayLinks
from portal.guest.service import send_invoice_email
from portal.models import AuditEvent, InvoiceFormat, OutboxMessage, RecipientPurpose
from portal.payments.settlement import send_receipt
from portal.services import services_of
from tests.conftest import TEST_SECRET_KEY

ADMIN = Actor.system("tests")
ERP = Actor.system("erp")


@pytest.fixture
def company(make):
    return make.company(locale="en", billing_emails=["ap@acme.test"])


def outbox(db) -> list[OutboxMessage]:
    db.flush()
    return list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_company_built_with_billing_emails_has_recipients_receiving_everything_with_the_pdf(db, company):
    for purpose in RecipientPurpose:
        assert recipients_for(db, company.id, purpose) == [Recipient("ap@acme.test", InvoiceFormat.PDF)]


def test_each_purpose_reaches_only_the_recipients_who_chose_it(db, company):
    add_recipient(db, ADMIN, company, "Controller@Acme.test", purposes=[RecipientPurpose.STATEMENTS],
                  invoice_format=InvoiceFormat.LINK)
    add_recipient(db, ADMIN, company, "books@acme.test",
                  purposes=[RecipientPurpose.INVOICES, RecipientPurpose.RECEIPTS], invoice_format=InvoiceFormat.FACTURX)

    def addresses(purpose):
        return [(recipient.email, recipient.invoice_format) for recipient in recipients_for(db, company.id, purpose)]

    assert addresses(RecipientPurpose.INVOICES) == [("ap@acme.test", "pdf"), ("books@acme.test", "facturx")]
    assert addresses(RecipientPurpose.REMINDERS) == [("ap@acme.test", "pdf")]
    assert addresses(RecipientPurpose.RECEIPTS) == [("ap@acme.test", "pdf"), ("books@acme.test", "facturx")]
    assert addresses(RecipientPurpose.STATEMENTS) == [("ap@acme.test", "pdf"), ("controller@acme.test", "link")]


def test_recipients_of_another_company_are_never_returned(db, make, company):
    make.company(billing_emails=["ap@other.test"])
    assert [r.email for r in recipients_for(db, company.id, RecipientPurpose.INVOICES)] == ["ap@acme.test"]


def test_an_address_is_a_recipient_once_whatever_its_case(db, company):
    with pytest.raises(RecipientError) as refused:
        add_recipient(db, ADMIN, company, " AP@ACME.test ")
    assert refused.value.code == "recipient_exists"


def test_a_company_has_at_most_twenty_recipients(db, company):
    for n in range(MAX_RECIPIENTS - 1):
        add_recipient(db, ADMIN, company, f"r{n}@acme.test")
    with pytest.raises(RecipientError) as refused:
        add_recipient(db, ADMIN, company, "one-too-many@acme.test")
    assert refused.value.code == "too_many_recipients"


def test_changing_and_removing_a_recipient_is_audited(db, company):
    [recipient] = company.recipients
    update_recipient(db, ADMIN, recipient, purposes=[RecipientPurpose.REMINDERS], invoice_format=InvoiceFormat.LINK)
    assert recipients_for(db, company.id, RecipientPurpose.INVOICES) == []
    assert recipients_for(db, company.id, RecipientPurpose.REMINDERS) == [Recipient("ap@acme.test", "link")]

    remove_recipient(db, ADMIN, recipient)
    db.flush()
    assert recipients_for(db, company.id, RecipientPurpose.REMINDERS) == []
    events = db.scalars(select(AuditEvent.action).where(AuditEvent.company_id == company.id)
                        .order_by(AuditEvent.id)).all()
    assert events[-2:] == ["recipient.changed", "recipient.removed"]


def test_the_erp_sending_the_same_addresses_keeps_the_choices_the_company_made(db, company):
    [recipient] = company.recipients
    update_recipient(db, ADMIN, recipient, purposes=[RecipientPurpose.RECEIPTS], invoice_format=InvoiceFormat.LINK)
    data = CompanyData(name=company.name, billing_emails=["ap@acme.test"], locale="en", currency="EUR")

    assert upsert_company(db, ERP, company.external_ref, data)[1] == Outcome.UNCHANGED

    added = CompanyData(name=company.name, billing_emails=["new@acme.test", "AP@acme.test"], locale="en",
                        currency="EUR")
    assert upsert_company(db, ERP, company.external_ref, added)[1] == Outcome.UPDATED
    db.flush()
    assert recipients_for(db, company.id, RecipientPurpose.RECEIPTS) == [
        Recipient("ap@acme.test", "link"), Recipient("new@acme.test", "pdf")]
    assert recipients_for(db, company.id, RecipientPurpose.INVOICES) == [Recipient("new@acme.test", "pdf")]

    upsert_company(db, ERP, company.external_ref, CompanyData(name=company.name, billing_emails=[], locale="en"))
    db.flush()
    assert list(company.billing_emails) == []


def test_an_invoice_goes_to_each_invoice_recipient_with_the_document_they_chose(db, make, company):
    add_recipient(db, ADMIN, company, "books@acme.test", invoice_format=InvoiceFormat.FACTURX)
    add_recipient(db, ADMIN, company, "boss@acme.test", invoice_format=InvoiceFormat.LINK)
    add_recipient(db, ADMIN, company, "receipts-only@acme.test", purposes=[RecipientPurpose.RECEIPTS])
    invoice = make.invoice(company, number="INV-RCP-1")

    sent = send_invoice_email(db, ADMIN, invoice, links=PayLinks(TEST_SECRET_KEY, "http://portal.test"),
                              supplier_name="Acquit")

    messages = outbox(db)
    assert sent == 3
    assert [(m.recipients, m.attach_invoice_id, m.attach_format) for m in messages] == [
        (["ap@acme.test"], invoice.id, "pdf"), (["books@acme.test"], invoice.id, "facturx"),
        (["boss@acme.test"], None, None)]
    assert "Please find attached invoice INV-RCP-1" in messages[0].body_text
    assert "attached" not in messages[2].body_text
    assert "see and download it from the link below" in messages[2].body_text


def test_a_receipt_goes_to_the_payer_and_to_the_receipt_recipients_once_each(db, make, company, app):
    add_recipient(db, ADMIN, company, "books@acme.test", purposes=[RecipientPurpose.RECEIPTS])
    add_recipient(db, ADMIN, company, "invoices-only@acme.test", purposes=[RecipientPurpose.INVOICES])
    payment = make.payment(make.invoice(company), 1_000)
    payment.receipt_email = "AP@acme.test"

    send_receipt(db, services_of(app).payments, payment)

    [message] = outbox(db)
    assert message.recipients == ["AP@acme.test", "books@acme.test"]
