"""The demo's company on autopay stays on autopay across restarts of the fake Stripe, which forgets its cards."""

from datetime import date

import pytest
from sqlalchemy import func, select

from portal import demo
from portal.autopay.enrolment import live_enrolment
from portal.autopay.run import run_autopay
from portal.autopay.settings import AutopaySettings
from portal.models import AutopayEnrolment, AutopayStatus, Role
from portal.services import services_of

DUE = date(2026, 12, 15)


@pytest.fixture
def app_overrides(stripe_settings):
    return stripe_settings


def test_each_demo_start_saves_the_card_at_the_fake_stripe_and_the_enrolment_charges_it(
        app, db, make, stripe_server, payments):
    company = make.company(ref=demo.AUTOPAY_COMPANY, name="Atelier Dupont & Fils SARL")
    make.user(company, role=Role.ADMIN, email=demo.AUTOPAY_ADMIN)
    invoice = make.invoice(company, total=120_00, due_date=DUE)
    db.commit()

    def start_the_demo() -> str:
        summary = demo.keep_on_autopay(db, payments, confirm_card=stripe_server.confirm_card_setup,
                                       supplier_name="Acquit Demo Supplier", settings=AutopaySettings(), today=DUE)
        db.commit()
        return summary

    assert "enrolled" in start_the_demo()
    first = live_enrolment(db, company.id)
    first_card = first.card
    # A restart: the fake Stripe starts empty, and the demo forgets what pointed at the old one.
    stripe_server.reset()
    demo.forget_fake_stripe_records(db)
    db.commit()
    assert "again" in start_the_demo()

    enrolment = live_enrolment(db, company.id)
    assert (enrolment.id, enrolment.status, enrolment.mandate_text) == (first.id, AutopayStatus.ACTIVE,
                                                                        first.mandate_text)
    assert enrolment.card.id != first_card.id and enrolment.card.removed_at is None
    assert db.scalar(select(func.count()).select_from(AutopayEnrolment)) == 1
    # The card the enrolment names now is one the fake Stripe knows: the due invoice is charged to it.
    assert run_autopay(db, services_of(app).autopay, as_of=DUE).charged == 1
    [charge] = stripe_server.succeeded_charges(customer=company.provider_customer_id)
    assert (charge["amount"], charge["payment_method"]) == (120_00, enrolment.card.provider_id)
    db.refresh(invoice)
    assert invoice.amount_due == 0
