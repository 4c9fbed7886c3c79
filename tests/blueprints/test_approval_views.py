"""The approval rule through HTTP, on the in-memory gateway, with its e-mails through a real SMTP server:
below the threshold one click pays; above it nothing is charged until a second person approves."""

import pytest
from sqlalchemy import select

from portal.models import ApprovalStatus, AuditEvent, Payment, PaymentApproval, PaymentStatus, Role
from portal.payments import fake_gateway
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, visible_text
from tests.blueprints.test_pay_page import pay_url, posted_form, save_card


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def gateway(app):
    return services_of(app).payments.gateway


@pytest.fixture
def company(make):
    return make.company(currency="EUR", locale="en")


@pytest.fixture
def people(make, company):
    return {role: make.user(company, role=role, email=f"{role}@customer.test")
            for role in (Role.ADMIN, Role.PAYER, Role.VIEWER)}


def browser(app, user, password):
    """A browser of `user`'s own, signed in, in English."""
    client = app.test_client()
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 303
    set_language(client, "en")
    return client


@pytest.fixture
def admin(app, make, people):
    return browser(app, people[Role.ADMIN], make.PASSWORD)


@pytest.fixture
def payer(app, make, people, gateway):
    client = browser(app, people[Role.PAYER], make.PASSWORD)
    save_card(client, gateway)
    return client


def set_threshold(client, amount: str, *, payers_may_approve=False):
    data = {"amount": amount} | ({"payers_may_approve": "y"} if payers_may_approve else {})
    return client.post("/approvals/rule", data=data)


def pay(client, *invoices):
    return client.post("/payments", data=posted_form(client.get(pay_url(*invoices))))


def approval_of(db) -> PaymentApproval:
    db.expire_all()
    return db.scalars(select(PaymentApproval).order_by(PaymentApproval.id.desc())).first()


def test_below_the_threshold_one_click_pays(admin, payer, gateway, make, company):
    assert set_threshold(admin, "1,000.00").status_code == 303
    invoice = make.invoice(company, total=100_000)

    response = pay(payer, invoice)

    assert response.status_code == 303 and response.headers["Location"].startswith("/payments/")
    assert [charge.amount for charge in gateway.charges.values()] == [100_000]


def test_above_the_threshold_a_second_person_approves_and_only_then_the_card_is_charged(
        admin, payer, app, gateway, make, company, people, db, smtp_server):
    set_threshold(admin, "1,000.00")
    invoice = make.invoice(company, total=250_000, number="INV-BIG")

    shown = payer.get(pay_url(invoice))
    assert "Ask for approval to pay €2,500.00" in page(shown).find("button", **{"data-pay": ""}).text
    prepared = pay(payer, invoice)

    approval = approval_of(db)
    assert prepared.headers["Location"] == f"/approvals/{approval.id}"
    assert gateway.charges == {}
    waiting = visible_text(payer.get(prepared.headers["Location"]))
    assert "Nothing is charged until a second person approves it." in waiting
    assert "You prepared this payment: another person must approve it." in waiting
    [asked] = [m for m in smtp_server.messages if m.recipients == [people[Role.ADMIN].email]]
    assert "waits for your approval" in asked.message["Subject"]
    assert f"http://portal.test/approvals/{approval.id}" in asked.text_body()
    assert not [m for m in smtp_server.messages if m.recipients == [people[Role.PAYER].email]]

    # The preparer cannot approve it, even by posting the form by hand.
    own = payer.post(f"/approvals/{approval.id}/approve")
    assert own.status_code == 409
    assert "another person must approve it" in visible_text(own)
    assert gateway.charges == {}

    approved = admin.post(f"/approvals/{approval.id}/approve")

    assert approved.status_code == 303
    assert "Approved: the payment is made." in visible_text(admin.get(approved.headers["Location"]))
    assert [charge.amount for charge in gateway.charges.values()] == [250_000]
    assert approval_of(db).status == ApprovalStatus.APPROVED
    [told] = [m for m in smtp_server.messages if m.recipients == [people[Role.PAYER].email]
              and "was approved" in m.message["Subject"]]
    assert "admin@customer.test" in told.text_body() or people[Role.ADMIN].full_name in told.text_body()
    labels = {event.action: event.actor_label for event in db.scalars(select(AuditEvent))}
    assert labels["payment.approval_requested"] == people[Role.PAYER].email
    assert labels["payment.approved"] == people[Role.ADMIN].email


def test_a_viewer_cannot_approve_nor_a_payer_unless_the_rule_says_so(app, admin, payer, gateway, make, company,
                                                                      people, db):
    set_threshold(admin, "10.00")
    pay(payer, make.invoice(company, total=5_000))
    approval = approval_of(db)
    viewer = browser(app, people[Role.VIEWER], make.PASSWORD)
    other_payer = browser(app, make.user(company, role=Role.PAYER), make.PASSWORD)

    assert viewer.post(f"/approvals/{approval.id}/approve").status_code == 403
    refused = other_payer.post(f"/approvals/{approval.id}/approve")
    assert refused.status_code == 409
    assert "Only your company's admins" in visible_text(refused)
    assert "Approve and pay" not in visible_text(other_payer.get(f"/approvals/{approval.id}"))

    set_threshold(admin, "10.00", payers_may_approve=True)
    assert "Approve and pay €50.00" in visible_text(other_payer.get(f"/approvals/{approval.id}"))
    assert other_payer.post(f"/approvals/{approval.id}/approve").status_code == 303
    assert [charge.amount for charge in gateway.charges.values()] == [5_000]


def test_only_admins_set_the_rule(payer, admin):
    assert set_threshold(payer, "1.00").status_code == 403
    assert "Approval rule" not in visible_text(payer.get("/approvals"))
    assert "Approval rule" in visible_text(admin.get("/approvals"))


def test_a_threshold_that_is_no_amount_is_refused_beside_the_field(admin):
    response = set_threshold(admin, "a lot")
    assert response.status_code == 400
    assert "Enter an amount such as" in visible_text(response)


def test_a_rejected_payment_is_not_charged_and_the_preparer_reads_why(admin, payer, gateway, make, company, people,
                                                                      db, smtp_server):
    set_threshold(admin, "10.00")
    pay(payer, make.invoice(company, total=5_000))
    approval = approval_of(db)

    rejected = admin.post(f"/approvals/{approval.id}/reject", data={"note": "Not our supplier's account"})

    assert rejected.status_code == 303
    assert approval_of(db).status == ApprovalStatus.REJECTED
    assert gateway.charges == {}
    assert "Not our supplier's account" in visible_text(payer.get(f"/approvals/{approval.id}"))
    [told] = [m for m in smtp_server.messages if "was rejected" in m.message["Subject"]]
    assert told.recipients == [people[Role.PAYER].email] and "Not our supplier's account" in told.text_body()
    assert admin.post(f"/approvals/{approval.id}/approve").status_code == 409


def test_an_invoice_paid_meanwhile_is_not_charged_again_on_approval(admin, payer, gateway, make, company, db):
    set_threshold(admin, "10.00")
    invoice = make.invoice(company, total=5_000, number="INV-PAID-MEANWHILE")
    pay(payer, invoice)
    approval = approval_of(db)
    make.payment(invoice, 5_000)
    make.session.commit()

    approved = admin.post(f"/approvals/{approval.id}/approve")

    assert "Approved, but nothing was charged: Invoice INV-PAID-MEANWHILE is already paid." in visible_text(
        admin.get(approved.headers["Location"]))
    assert gateway.charges == {}
    assert approval_of(db).status == ApprovalStatus.NOT_CHARGED


def test_why_an_approved_payment_was_not_charged_is_told_in_each_reader_s_language(
        app, admin, payer, gateway, make, company, people, db, smtp_server):
    set_threshold(admin, "10.00")
    invoice = make.invoice(company, total=5_000, number="INV-PAYEE-DEJA")
    pay(payer, invoice)
    approval = approval_of(db)
    make.payment(invoice, 5_000)
    people[Role.PAYER].locale = "fr"
    make.session.commit()
    set_language(admin, "fr")

    approved = admin.post(f"/approvals/{approval.id}/approve")

    shown = visible_text(admin.get(approved.headers["Location"]))
    assert "Approuvé, mais rien n’a été débité : La facture INV-PAYEE-DEJA est déjà payée." in shown
    set_language(admin, "en")
    assert "Invoice INV-PAYEE-DEJA is already paid." in visible_text(admin.get(f"/approvals/{approval.id}"))
    [told] = [m for m in smtp_server.messages if m.recipients == [people[Role.PAYER].email]][-1:]
    assert "La facture INV-PAYEE-DEJA est déjà payée. Rien n’a été débité." in told.text_body()


def test_when_the_bank_asks_for_3d_secure_the_approver_confirms_it_on_the_payment_page(
        app, admin, make, company, people, gateway, db):
    set_threshold(admin, "10.00")
    preparer = browser(app, make.user(company, role=Role.PAYER), make.PASSWORD)
    save_card(preparer, gateway, fake_gateway.NEEDS_AUTHENTICATION)
    pay(preparer, make.invoice(company, total=5_000))

    approved = admin.post(f"/approvals/{approval_of(db).id}/approve")

    payment = db.scalars(select(Payment)).one()
    assert approved.headers["Location"] == f"/payments/{payment.id}"
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert "Confirm the payment with your bank" in visible_text(admin.get(approved.headers["Location"]))


def test_the_preparer_withdraws_a_waiting_payment(admin, payer, make, company, db):
    set_threshold(admin, "10.00")
    pay(payer, make.invoice(company, total=5_000))
    approval = approval_of(db)

    assert admin.post(f"/approvals/{approval.id}/withdraw").status_code == 409
    assert payer.post(f"/approvals/{approval.id}/withdraw").status_code == 303
    assert approval_of(db).status == ApprovalStatus.WITHDRAWN


def test_a_card_declined_on_approval_is_told_in_the_approvers_language_not_the_processors(
        app, admin, make, company, gateway, db):
    set_threshold(admin, "10.00")
    preparer = browser(app, make.user(company, role=Role.PAYER), make.PASSWORD)
    save_card(preparer, gateway, fake_gateway.DECLINED_ON_CHARGE)
    pay(preparer, make.invoice(company, total=5_000))
    set_language(admin, "fr")

    approved = admin.post(f"/approvals/{approval_of(db).id}/approve")

    shown = visible_text(admin.get(approved.headers["Location"]))
    assert "La carte a été refusée. Aucun montant n'a été débité" in shown
    assert "declined" not in shown
