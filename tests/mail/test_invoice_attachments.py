"""Invoice e-mails carry the document each billing recipient chose, as a real SMTP server receives them."""

import io

import pytest
from facturx import get_facturx_xml_from_pdf
from pypdf import PdfReader

from portal.accounts.recipients import add_recipient
from portal.audit import Actor
from portal.billing.invoices import void_invoice
from portal.guest.links import PayLinks
from portal.guest.service import send_invoice_email
from portal.models import InvoiceFormat
from tests.conftest import TEST_SECRET_KEY

ACTOR = Actor.system("tests")


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


def deliver(app) -> None:
    result = app.test_cli_runner().invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0, result.output


def attachments(received) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in received.message.iter_attachments()]


def test_each_recipient_receives_the_invoice_as_the_document_they_chose(app, db, make, smtp_server):
    company = make.company(locale="fr", billing_emails=["ap@acme.test"])
    add_recipient(db, ACTOR, company, "books@acme.test", invoice_format=InvoiceFormat.FACTURX)
    add_recipient(db, ACTOR, company, "boss@acme.test", invoice_format=InvoiceFormat.LINK)
    invoice = make.invoice(company, number="INV-MAIL-1", total=12_000, tax_rate="20")
    send_invoice_email(db, ACTOR, invoice, links=PayLinks(TEST_SECRET_KEY, "http://portal.test"),
                       supplier_name="Acquit Demo Supplier")
    db.commit()

    deliver(app)

    received = {message.recipients[0]: message for message in smtp_server.messages}
    [(pdf_name, pdf)] = attachments(received["ap@acme.test"])
    [(facturx_name, facturx)] = attachments(received["books@acme.test"])
    assert attachments(received["boss@acme.test"]) == []
    assert pdf_name == "INV-MAIL-1.pdf" and list(PdfReader(io.BytesIO(pdf)).attachment_list) == []
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Pénalités de retard" in text and "http://portal.test/pay/" in text
    assert facturx_name == "INV-MAIL-1-facturx.pdf"
    _, xml = get_facturx_xml_from_pdf(facturx, check_xsd=True)
    assert b"<ram:GrandTotalAmount>144.00</ram:GrandTotalAmount>" in xml


def test_an_invoice_voided_before_its_email_went_is_attached_as_the_pdf_that_says_so(app, db, make, smtp_server):
    company = make.company(locale="en", billing_emails=[])
    add_recipient(db, ACTOR, company, "books@acme.test", invoice_format=InvoiceFormat.FACTURX)
    invoice = make.invoice(company, number="INV-MAIL-2")
    send_invoice_email(db, ACTOR, invoice, links=PayLinks(TEST_SECRET_KEY, "http://portal.test"),
                       supplier_name="Acquit Demo Supplier")
    void_invoice(db, ACTOR, invoice, "sent in error")
    db.commit()

    deliver(app)

    [message] = smtp_server.messages
    [(name, pdf)] = attachments(message)
    assert name == "INV-MAIL-2.pdf"
    assert "Void" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
