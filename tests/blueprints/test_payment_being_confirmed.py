"""A payment whose outcome is unknown, as its payer sees it: the page says it is being checked,
asks the card processor itself while the payer waits, and shows the result once it is known.
"""

import pytest
from sqlalchemy import select

from portal.models import Payment, PaymentStatus, Role
from portal.payments.errors import OutcomeUnknown
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import visible_text
from tests.blueprints.test_pay_page import pay_url, posted_form, save_card

HTMX = {"HX-Request": "true"}


@pytest.fixture
def gateway(app):
    return services_of(app).payments.gateway


@pytest.fixture
def company(make):
    return make.company(currency="EUR", locale="en")


@pytest.fixture
def payer(client, make, company):
    user = make.user(company, role=Role.PAYER)
    client.post("/login", data={"email": user.email, "password": make.PASSWORD})
    set_language(client, "en")
    return user


@pytest.fixture
def unanswered_payment(db, client, gateway, make, company, payer) -> Payment:
    """A payment the card processor made, whose answer was lost on its way back."""
    save_card(client, gateway)
    invoice = make.invoice(company, total=80_00)
    gateway.fail_after_next_call(OutcomeUnknown("connection lost"))
    response = client.post("/payments", data=posted_form(client.get(pay_url(invoice))))
    assert response.status_code == 303
    return db.scalar(select(Payment).where(Payment.company_id == company.id))


def test_the_payer_is_told_the_result_is_being_checked_and_offered_no_second_try(client, gateway,
                                                                                 unanswered_payment):
    gateway.fail_next_call(OutcomeUnknown("still no answer"))

    text = visible_text(client.get(f"/payments/{unanswered_payment.id}"))

    assert "We are checking with the card processor whether this payment went through." in text
    assert "Do not pay again" in text
    assert "Try again" not in text


def test_the_page_poll_answers_nothing_new_while_the_outcome_is_unknown(client, gateway, unanswered_payment):
    gateway.fail_next_call(OutcomeUnknown("still no answer"))

    response = client.get(f"/payments/{unanswered_payment.id}", headers=HTMX)

    assert (response.status_code, response.headers.get("HX-Refresh")) == (204, None)


def test_the_page_poll_settles_the_payment_from_the_processor_and_reloads_the_page(db, client, unanswered_payment):
    # The charge was made: the processor's record, found by the payment's key, settles it.
    unanswered_payment.checked_at = None
    db.commit()

    poll = client.get(f"/payments/{unanswered_payment.id}", headers=HTMX)
    shown = client.get(f"/payments/{unanswered_payment.id}")

    assert (poll.status_code, poll.headers.get("HX-Refresh")) == (204, "true")
    db.refresh(unanswered_payment)
    assert unanswered_payment.status == PaymentStatus.SUCCEEDED
    assert "Payment received — thank you" in visible_text(shown)
