"""Reconciliation exports as people download them: a customer's own CSVs, the staff's across
customers, and `acquit export payments` on the command line.
"""

import csv
import io
from datetime import UTC, date, datetime

import pytest

from portal.audit import Actor
from portal.clock import SUPPLIER_TIMEZONE
from portal.models import Role
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.ledger import record_offline_payment
from portal.payments.refunds import refund_allocation
from portal.services import services_of
from tests.builders import Builders
from tests.payments.conftest import save_fake_card

INVOICE_HEADER = ["invoice_number", "company_ref", "company_name", "company_vat_number", "company_address",
                  "company_postcode", "company_city", "company_country", "po_number", "issue_date", "due_date", "status",
                  "currency", "amount_net", "amount_tax", "amount_total", "amount_paid", "amount_credited",
                  "amount_due", "custom_fields"]
PAYMENT_HEADER = ["payment_id", "succeeded_at", "company_ref", "method", "reference", "currency", "payment_amount",
                  "invoice_number", "po_number", "allocated_amount", "entry", "refund_id", "note"]


def rows_of(response) -> list[dict]:
    assert response.status_code == 200, response.status_code
    text = response.get_data(as_text=True)
    assert next(csv.reader(io.StringIO(text))) in (INVOICE_HEADER, PAYMENT_HEADER)
    return list(csv.DictReader(io.StringIO(text)))


def numbers(response) -> list[str]:
    return [row["invoice_number"] for row in rows_of(response)]


@pytest.fixture
def books(make, db):
    """Two customers with invoices and payments; returns the companies and invoices by name."""
    acme, globex = make.company(ref="ACME", name="Acme SAS"), make.company(ref="GLOBEX", name="Globex")
    invoices = {
        "march-po1": make.invoice(acme, number="A-1", total=50_00, po_number="PO-1", issue_date=date(2026, 3, 10)),
        "march-po2": make.invoice(acme, number="A-2", total=120_00, po_number="PO-2", issue_date=date(2026, 3, 20)),
        "may-po1": make.invoice(acme, number="A-3", total=900_00, po_number="PO-1", issue_date=date(2026, 5, 5),
                                custom_fields={"cost_centre": "R&D"}),
        "draft": make.invoice(acme, number="A-4", total=10_00, issue=False),
        "globex": make.invoice(globex, number="G-1", total=70_00, po_number="PO-1", issue_date=date(2026, 3, 15)),
    }

    def pay(invoice, amount, when, reference):
        return record_offline_payment(db, Builders.ACTOR, company=invoice.company, allocations=[(invoice, amount)],
                                      method_summary="Bank transfer", reference=reference, now=when)

    pay(invoices["march-po1"], 50_00, datetime(2026, 4, 1, 9, tzinfo=UTC), "TRF-A1")
    pay(invoices["may-po1"], 300_00, datetime(2026, 6, 1, 9, tzinfo=UTC), "TRF-A3")
    pay(invoices["globex"], 70_00, datetime(2026, 4, 2, 9, tzinfo=UTC), "TRF-G1")
    db.commit()
    return {"acme": acme, "globex": globex, **invoices}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_an_admin_or_viewer_downloads_their_company_invoices_as_csv(make, login_as, books, role):
    client = login_as(make.user(books["acme"], role=role))

    response = client.get("/invoices/export.csv")

    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="invoices-ACME-') and disposition.endswith('.csv"')
    assert response.headers["Cache-Control"] == "no-store"
    rows = rows_of(response)
    # Issued ones, in the list's first order: latest due date first.
    assert [row["invoice_number"] for row in rows] == ["A-3", "A-2", "A-1"]
    assert {row["company_ref"] for row in rows} == {"ACME"}
    partly, _, paid = rows
    assert (paid["status"], paid["amount_total"], paid["amount_due"]) == ("paid", "50.00", "0.00")
    assert (partly["amount_paid"], partly["amount_due"], partly["custom_fields"]) == (
        "300.00", "600.00", '{"cost_centre": "R&D"}')


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_an_admin_or_viewer_downloads_their_company_payments_as_csv(make, login_as, books, role):
    client = login_as(make.user(books["acme"], role=role))

    response = client.get("/invoices/payments.csv")

    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="payments-ACME-')
    rows = rows_of(response)
    assert [(row["reference"], row["invoice_number"], row["allocated_amount"], row["po_number"]) for row in rows] == [
        ("TRF-A1", "A-1", "50.00", "PO-1"), ("TRF-A3", "A-3", "300.00", "PO-1")]
    assert rows[0]["succeeded_at"].startswith("2026-04-01T09:00:00")


def test_a_payer_may_not_download_exports(make, login_as, books):
    client = login_as(make.user(books["acme"], role=Role.PAYER))

    assert client.get("/invoices/export.csv").status_code == 403
    assert client.get("/invoices/payments.csv").status_code == 403


def test_someone_signed_out_is_sent_to_sign_in(client, books):
    response = client.get("/invoices/export.csv")

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_customer_exports_apply_the_list_filters(make, login_as, books):
    client = login_as(make.user(books["acme"], role=Role.VIEWER))

    assert numbers(client.get("/invoices/export.csv?po=PO-1")) == ["A-3", "A-1"]
    assert numbers(client.get("/invoices/export.csv?po=PO-1&sort=issue_date&direction=asc")) == ["A-1", "A-3"]
    assert numbers(client.get("/invoices/export.csv?amount_min=100&amount_max=1000")) == ["A-3", "A-2"]
    assert numbers(client.get("/invoices/export.csv?amount_min=120,00")) == ["A-3", "A-2"]
    assert numbers(client.get("/invoices/export.csv?issued_from=2026-03-15&issued_to=2026-04-30")) == ["A-2"]
    assert numbers(client.get("/invoices/export.csv?po=PO-1&issued_from=2026-05-01")) == ["A-3"]
    assert numbers(client.get("/invoices/export.csv?po=PO-404")) == []
    # Payments: those of the invoices the same filters list (tests/blueprints/test_exports_match_the_list.py).
    assert numbers(client.get("/invoices/payments.csv?po=PO-2")) == []
    assert numbers(client.get("/invoices/payments.csv?issued_from=2026-05-01")) == ["A-3"]
    assert numbers(client.get("/invoices/payments.csv?amount_max=100")) == ["A-1"]


@pytest.mark.parametrize("query", [
    "amount_min=lots", "amount_max=1.2.3", "issued_from=yesterday", "issued_to=2026-02-30",
    "issued_from=2026-05-01&issued_to=2026-04-01", "po=" + "x" * 65,
])
@pytest.mark.parametrize("export", ["/invoices/export.csv", "/invoices/payments.csv",
                                    "/collections/exports/invoices.csv", "/collections/exports/payments.csv"])
def test_a_bad_filter_gets_400_not_a_server_error(make, login_as, books, export, query):
    user = make.staff() if export.startswith("/collections") else make.user(books["acme"], role=Role.ADMIN)

    response = login_as(user).get(f"{export}?{query}")

    assert response.status_code == 400


def test_staff_export_every_customer_or_one_by_reference(make, login_as, books):
    client = login_as(make.staff())

    everything = client.get("/collections/exports/invoices.csv")
    assert everything.mimetype == "text/csv"
    assert everything.headers["Content-Disposition"].startswith('attachment; filename="invoices-')
    assert numbers(everything) == ["A-1", "G-1", "A-2", "A-3"]
    assert numbers(client.get("/collections/exports/invoices.csv?company=GLOBEX")) == ["G-1"]
    assert numbers(client.get("/collections/exports/invoices.csv?company=NOBODY")) == []
    assert numbers(client.get("/collections/exports/invoices.csv?po=PO-1&issued_to=2026-03-31")) == ["A-1", "G-1"]
    payments = rows_of(client.get("/collections/exports/payments.csv"))
    assert [(row["company_ref"], row["reference"]) for row in payments] == [
        ("ACME", "TRF-A1"), ("GLOBEX", "TRF-G1"), ("ACME", "TRF-A3")]
    assert numbers(client.get("/collections/exports/payments.csv?company=ACME&issued_to=2026-04-30")) == ["A-1"]


def test_clerks_may_not_use_the_staff_exports(make, login_as, books):
    client = login_as(make.user(books["acme"], role=Role.ADMIN))

    assert client.get("/collections/exports/invoices.csv").status_code == 404
    assert client.get("/collections/exports/payments.csv").status_code == 404


def test_the_cli_exports_payments_since_a_day_to_stdout_or_a_file(app, books, tmp_path):
    runner = app.test_cli_runner()

    since = runner.invoke(args=["export", "payments", "--since", "2026-04-02"])
    window = runner.invoke(args=["export", "payments", "--since", "2026-04-01", "--until", "2026-04-30",
                                 "-o", str(tmp_path / "april.csv")])

    assert since.exit_code == 0, since.output
    rows = list(csv.DictReader(io.StringIO(since.output)))
    assert [(row["reference"], row["invoice_number"], row["payment_amount"]) for row in rows] == [
        ("TRF-G1", "G-1", "70.00"), ("TRF-A3", "A-3", "300.00")]
    assert window.exit_code == 0 and window.output == ""
    april = list(csv.DictReader(io.StringIO((tmp_path / "april.csv").read_text(encoding="utf-8"))))
    assert [row["reference"] for row in april] == ["TRF-A1", "TRF-G1"]


def test_the_cli_export_refuses_a_day_that_is_not_a_date(app, books):
    result = app.test_cli_runner().invoke(args=["export", "payments", "--since", "April"])

    assert result.exit_code == 2 and "--since" in result.output


def test_a_refund_is_a_negative_row_of_its_own_on_the_day_it_was_made_in_the_cli_and_staff_exports(
        app, db, make, login_as):
    context = services_of(app).payments
    company = make.company(ref="REFUNDED")
    payer = make.user(company)
    invoice = make.invoice(company, number="R-1", total=200_00, po_number="PO-R")
    save_fake_card(db, context, context.gateway, company, payer)
    payment = pay_invoices(db, context, Actor.user(payer), company=company, receipt_email=None,
                           request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key="r1"))
    refund = refund_allocation(db, context, Actor.system("tests"), payment_id=payment.id,
                               allocation_id=payment.allocations[0].id, amount=45_50, reason="Damaged pallet")
    db.commit()
    today = refund.succeeded_at.astimezone(SUPPLIER_TIMEZONE).date().isoformat()

    cli = app.test_cli_runner().invoke(args=["export", "payments", "--since", today])
    staff = login_as(make.staff())
    downloaded = rows_of(staff.get("/collections/exports/payments.csv?company=REFUNDED"))

    assert cli.exit_code == 0, cli.output
    from_cli = [row for row in csv.DictReader(io.StringIO(cli.output)) if row["company_ref"] == "REFUNDED"]
    for rows in (from_cli, downloaded):
        assert [(row["entry"], row["invoice_number"], row["payment_amount"], row["allocated_amount"],
                 row["refund_id"], row["note"]) for row in rows] == [
            ("payment", "R-1", "200.00", "200.00", "", ""),
            ("refund", "R-1", "200.00", "-45.50", str(refund.id), "Damaged pallet"),
        ]
    assert downloaded[1]["succeeded_at"] == refund.succeeded_at.isoformat()
