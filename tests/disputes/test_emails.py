"""E-mails both ways, over real SMTP: the customer's steps reach the collections address, the team's
steps reach the clerk who raised the dispute and the company's billing addresses, each in its language."""

import io

import pytest
from sqlalchemy import select

from portal.accounts.api_keys import create_api_key
from portal.models import Dispute
from tests.blueprints.conftest import set_language
from tests.builders import PDF_BYTES, Builders

COLLECTIONS = "recouvrement@supplier.test"


@pytest.fixture
def app_overrides(smtp_server):
    return {**smtp_server.app_config, "ACQUIT_COLLECTIONS_EMAIL": COLLECTIONS,
            "ACQUIT_SUPPLIER_NAME": "Dupont Supplies", "BABEL_DEFAULT_LOCALE": "en"}


@pytest.fixture
def sign_in(app, db):
    def client_for(user):
        client = app.test_client()
        set_language(client, "en")
        assert client.post("/login", data={"email": user.email, "password": Builders.PASSWORD}).status_code == 303
        return client

    return client_for


@pytest.fixture
def invoice(make, customer):
    invoice = make.invoice(customer.company, number="INV-MAIL-1", total=250_00)
    make.session.commit()
    return invoice


def html_body(received) -> str:
    return received.message.get_body(preferencelist=("html",)).get_content()


def test_the_whole_dispute_is_told_both_ways_by_email(db, sign_in, smtp_server, customer, staff, invoice):
    payer, team = sign_in(customer.payer), sign_in(staff)

    raised = payer.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "reason": "wrong_quantity", "scope": "amount", "amount": "50.00", "message": "We received 8 boxes, not 10.",
        "attachments": (io.BytesIO(PDF_BYTES), "delivery-note.pdf")})
    dispute_id = int(raised.headers["Location"].rsplit("/", 1)[1])

    [opened] = smtp_server.messages
    assert opened.recipients == [COLLECTIONS]
    assert opened.message["Subject"] == "Dispute raised by Alpha Widgets SAS on invoice INV-MAIL-1"
    text = opened.text_body()
    assert "Alpha Widgets SAS (CUST-ALPHA) disputes €50.00 of invoice INV-MAIL-1." in text
    assert "Reason: Wrong quantity" in text
    assert "We received 8 boxes, not 10." in text
    assert "1 file attached." in text
    assert f"http://portal.test/collections/disputes/{dispute_id}" in text
    assert f'href="http://portal.test/collections/disputes/{dispute_id}"' in html_body(opened)

    team.post(f"/collections/disputes/{dispute_id}/messages", data={
        "body": "Could you send the signed delivery note?",
        "ask_customer": "Send and ask the customer for more information"})

    asked = smtp_server.messages[1]
    assert asked.recipients == ["payer@alpha.test", "ap@alpha.test", "controller@alpha.test"]
    assert asked.message["Subject"] == "Dupont Supplies needs more information about invoice INV-MAIL-1"
    assert "Could you send the signed delivery note?" in asked.text_body()
    assert "We need your answer to resolve the dispute" in asked.text_body()
    assert f"http://portal.test/disputes/{dispute_id}" in asked.text_body()
    assert "recouvrement" not in asked.text_body() and staff.email not in asked.text_body()

    payer.post(f"/disputes/{dispute_id}/messages", data={"body": "Signed note attached."}, headers={"HX-Request": "1"})

    answered = smtp_server.messages[2]
    assert answered.recipients == [COLLECTIONS]
    assert answered.message["Subject"] == "New message from Alpha Widgets SAS about invoice INV-MAIL-1"
    assert "Signed note attached." in answered.text_body()

    team.post(f"/collections/disputes/{dispute_id}/credit",
              data={"amount": "50.00", "credit_note_number": "AV-2026-007", "note": "Two boxes missing, credited."})

    decided = smtp_server.messages[3]
    assert decided.recipients == ["payer@alpha.test", "ap@alpha.test", "controller@alpha.test"]
    assert decided.message["Subject"] == "Decision on your dispute about invoice INV-MAIL-1"
    text = decided.text_body()
    assert "issued credit note AV-2026-007 for €50.00" in text
    assert "Our note: Two boxes missing, credited." in text
    assert "Still due on the invoice: €200.00." in text
    assert len(smtp_server.messages) == 4


def test_a_rejection_and_a_withdrawal_are_told_too(db, make, context, sign_in, smtp_server, customer, staff, invoice):
    other = make.invoice(customer.company, number="INV-MAIL-2", total=80_00)
    rejected = make.dispute(context, invoice, customer.payer, amount=10_00)
    withdrawn = make.dispute(context, other, customer.admin, amount=5_00)
    make.session.commit()
    del smtp_server.messages[:]

    sign_in(staff).post(f"/collections/disputes/{rejected.id}/reject", data={"reason": "The tariff of 2026 applies."})
    sign_in(customer.admin).post(f"/disputes/{withdrawn.id}/withdraw")

    decision, withdrawal = smtp_server.messages
    assert decision.recipients == ["payer@alpha.test", "ap@alpha.test", "controller@alpha.test"]
    assert "We could not accept your dispute on invoice INV-MAIL-1." in decision.text_body()
    assert "Our note: The tariff of 2026 applies." in decision.text_body()
    assert "Still due on the invoice: €250.00." in decision.text_body()
    assert withdrawal.recipients == [COLLECTIONS]
    assert withdrawal.message["Subject"] == "Alpha Widgets SAS withdrew its dispute on invoice INV-MAIL-2"


def test_voiding_a_disputed_invoice_through_the_api_closes_the_dispute_and_says_so(db, make, context, client,
                                                                                  smtp_server, customer, invoice):
    dispute = make.dispute(context, invoice, customer.payer, amount=250_00, message="Never ordered.")
    _, key = create_api_key(db, "erp")
    make.session.commit()
    del smtp_server.messages[:]

    voided = client.post("/api/v1/invoices/INV-MAIL-1/void", json={"reason": "Issued to the wrong customer."},
                         headers={"Authorization": f"Bearer {key}"})

    assert voided.status_code == 200
    db.expire_all()
    closed = db.get(Dispute, dispute.id)
    assert (closed.status, closed.resolution_note) == ("invoice_voided", "Issued to the wrong customer.")
    assert closed.resolved_at is not None
    assert db.scalars(select(Dispute).where(Dispute.status.in_(("open", "awaiting_customer")))).all() == []
    [told] = smtp_server.messages
    assert told.recipients == ["payer@alpha.test", "ap@alpha.test", "controller@alpha.test"]
    assert "Invoice INV-MAIL-1 was cancelled: your dispute on it is closed." in told.text_body()
    assert "Our note: Issued to the wrong customer." in told.text_body()
    assert "Nothing is due on the invoice any more." in told.text_body()
    page = sign_in_page(client, customer.payer, f"/disputes/{dispute.id}")
    assert "Closed: invoice cancelled" in page


def sign_in_page(client, user, path: str) -> str:
    set_language(client, "en")
    assert client.post("/login", data={"email": user.email, "password": Builders.PASSWORD}).status_code == 303
    return client.get(path).get_data(as_text=True)


def test_a_french_customer_is_written_to_in_french(db, make, context, sign_in, smtp_server, staff):
    company = make.company(name="Boulangeries Martin SAS", locale="fr", billing_emails=["compta@martin.test"])
    payer = make.user(company, email="paul@martin.test")
    dispute = make.dispute(context, make.invoice(company, number="F-2026-12", total=120_00), payer)
    make.session.commit()
    del smtp_server.messages[:]

    sign_in(staff).post(f"/collections/disputes/{dispute.id}/messages", data={"body": "Nous vérifions."})

    [reply] = smtp_server.messages
    assert reply.recipients == ["paul@martin.test", "compta@martin.test"]
    assert reply.message["Subject"] == "Dupont Supplies a répondu au sujet de la facture F-2026-12"
    assert reply.text_body().startswith("Bonjour,")
    assert "Nous vérifions." in reply.text_body()
