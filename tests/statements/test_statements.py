"""Statements of account against a hand-computed fixture; the PDF, the pages, the e-mails."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from portal.audit import Actor
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, void_invoice
from portal.mail import outbox
from portal.models import Role
from portal.payments.ledger import record_offline_payment
from portal.services import services_of
from portal.statements.account import AgingBucket, EntryKind, statement_of_account
from portal.statements.monthly import send_monthly_statements
from portal.statements.service import set_monthly_statement
from tests.blueprints.conftest import set_language

ACTOR = Actor.system("tests")


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


def subject(mail) -> str:
    """The subject as sent: a long one is folded on the wire, and unfolded it may keep the fold's space."""
    return " ".join(mail.message["Subject"].split())


def invoice(db, company, number: str, total: int, issued: str, due: str):
    return create_invoice(db, ACTOR, company=company, number=number, issue_date=date.fromisoformat(issued),
                          due_date=date.fromisoformat(due), currency="EUR", issue=True,
                          lines=[LineInput(description="Goods", quantity=Decimal(1), unit_amount=total,
                                           tax_rate=Decimal(0))])


@pytest.fixture
def account(db, make):
    """Invoices A (1,000.00), B (500.00), C (300.00) and a void one; two payments, one credit note.

    The second payment is made at 23:30 UTC on 31 October: 1 November in Paris, where the
    supplier keeps its books, so it belongs to November.
    """
    company = make.company(name="Statement Test SAS", locale="en", billing_emails=["ap@statement.test"])
    a = invoice(db, company, "ST-A", 1000_00, "2026-09-10", "2026-10-10")
    b = invoice(db, company, "ST-B", 500_00, "2026-10-05", "2026-11-04")
    invoice(db, company, "ST-C", 300_00, "2026-11-03", "2026-12-03")
    void_invoice(db, ACTOR, invoice(db, company, "ST-VOID", 999_00, "2026-10-07", "2026-11-07"), reason="Twice")
    record_offline_payment(db, ACTOR, company=company, allocations=[(a, 400_00)], method_summary="Bank transfer",
                           reference="TRF-1", now=datetime(2026, 10, 20, 12, 0, tzinfo=UTC))
    record_offline_payment(db, ACTOR, company=company, allocations=[(a, 600_00), (b, 200_00)],
                           method_summary="Bank transfer", reference="TRF-2",
                           now=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    issue_credit_note(db, ACTOR, invoice=b, number="CN-1", amount=100_00, issue_date=date(2026, 11, 15))
    db.commit()
    return company


def test_november_against_the_hand_computed_figures(db, account):
    statement = statement_of_account(db, account, start=date(2026, 11, 1), end=date(2026, 11, 30))

    assert statement.opening_balance == 1000_00 + 500_00 - 400_00
    assert [(e.day, e.kind, e.reference, e.debit, e.credit, e.balance) for e in statement.entries] == [
        (date(2026, 11, 1), EntryKind.PAYMENT, "TRF-2", 0, 800_00, 300_00),
        (date(2026, 11, 3), EntryKind.INVOICE, "ST-C", 300_00, 0, 600_00),
        (date(2026, 11, 15), EntryKind.CREDIT_NOTE, "CN-1", 0, 100_00, 500_00),
    ]
    assert statement.entries[0].invoice_numbers == ("ST-A", "ST-B")
    assert statement.closing_balance == 500_00
    # B still owes 200.00, 26 days late on 30 November; C's 300.00 is not due until 3 December.
    assert statement.aging == {AgingBucket.CURRENT: 300_00, AgingBucket.DAYS_1_30: 200_00, AgingBucket.DAYS_31_60: 0,
                               AgingBucket.DAYS_61_90: 0, AgingBucket.OVER_90: 0}


def test_october_and_the_periods_chain(db, account):
    october = statement_of_account(db, account, start=date(2026, 10, 1), end=date(2026, 10, 31))
    november = statement_of_account(db, account, start=date(2026, 11, 1), end=date(2026, 11, 30))

    assert (october.opening_balance, october.closing_balance) == (1000_00, 1100_00)
    assert [(e.reference, e.balance) for e in october.entries] == [("ST-B", 1500_00), ("TRF-1", 1100_00)]
    assert october.aging[AgingBucket.DAYS_1_30] == 600_00 and october.aging[AgingBucket.CURRENT] == 500_00
    assert november.opening_balance == october.closing_balance
    assert "ST-VOID" not in {e.reference for e in october.entries + november.entries}


def test_aging_adds_up_to_the_closing_balance_and_today_to_what_is_due(db, account):
    statement = statement_of_account(db, account, start=date(2026, 1, 1), end=date(2027, 6, 30))

    assert sum(statement.aging.values()) == statement.closing_balance == 500_00
    assert statement.aging[AgingBucket.OVER_90] == 500_00
    assert statement.opening_balance == 0


def test_a_clerk_sees_and_downloads_their_own_statement_only(db, make, client, login_as, account):
    viewer = make.user(account, role=Role.VIEWER)
    other = make.company(name="Nosy Neighbour SA")
    invoice(db, other, "NOSY-1", 77_00, "2026-11-05", "2026-12-05")
    db.commit()
    login_as(viewer)
    set_language(client, "en")

    page = client.get("/statements?start=2026-11-01&end=2026-11-30").get_data(as_text=True)
    document = client.get("/statements/statement.pdf?start=2026-11-01&end=2026-11-30")

    assert "€1,100.00" in page and "€500.00" in page and "ST-C" in page and "CN-1" in page
    assert "NOSY-1" not in page and "€77.00" not in page
    assert document.status_code == 200 and document.data.startswith(b"%PDF")
    assert 'filename="statement-' in document.headers["Content-Disposition"]
    refused = client.get("/statements?start=2026-11-30&end=2026-11-01")
    assert refused.status_code == 400 and "The period ends before it starts." in refused.get_data(as_text=True)


def test_staff_email_a_statement_with_its_pdf(app, db, make, client, login_as, account, smtp_server):
    login_as(make.staff(locale="en"))
    set_language(client, "en")

    response = client.post(f"/collections/companies/{account.external_ref}/statement/email",
                           data={"start": "2026-11-01", "end": "2026-11-30"})

    assert response.status_code == 303
    # The PDF is drawn by the outbox worker as it sends, not by the request.
    assert smtp_server.messages == []
    outbox.deliver(db, services_of(app).smtp)
    [mail] = smtp_server.messages
    assert mail.recipients == ["ap@statement.test"]
    assert subject(mail) == (
        "Statement of account for Statement Test SAS, November 1, 2026 – November 30, 2026")
    assert "Closing balance: €500.00" in mail.text_body()
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename() == f"statement-{account.external_ref}-2026-11-01-2026-11-30.pdf"
    assert attachment.get_content().startswith(b"%PDF")


def test_the_monthly_statement_goes_once_a_month_to_subscribed_companies(app, db, make, account, smtp_server):
    make.company(billing_emails=["not-subscribed@statement.test"])
    set_monthly_statement(db, ACTOR, account, on=True)
    db.commit()

    def month_run(day: date):
        before = len(smtp_server.messages)
        report = send_monthly_statements(db, as_of=day, supplier_name="Supplier", base_url="http://portal.test")
        outbox.deliver(db, services_of(app).smtp)
        db.commit()
        return report, smtp_server.messages[before:]

    first, mails = month_run(date(2026, 12, 1))
    assert first.sent == 1 and [mail.recipients for mail in mails] == [["ap@statement.test"]]
    assert "November 1, 2026 – November 30, 2026" in subject(mails[0])
    assert month_run(date(2026, 12, 1))[1] == [] and month_run(date(2026, 12, 20))[1] == []
    assert "December 1, 2026 – December 31, 2026" in subject(month_run(date(2027, 1, 2))[1][0])
    set_monthly_statement(db, ACTOR, account, on=False)
    db.commit()
    assert month_run(date(2027, 2, 1))[1] == []
