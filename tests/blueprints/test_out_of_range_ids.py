"""An id too large for the database (beyond a signed 64-bit integer), in a URL, a query or a form,
is "not found" or "not valid", never a server error: SQLite and PostgreSQL both refuse to look it up."""

import pytest

from tests.builders import Builders

TOO_LARGE = str(2**63)  # one more than the largest id a row can have


def signed_in(client, user):
    assert client.post("/login", data={"email": user.email, "password": Builders.PASSWORD}).status_code == 303
    return client


@pytest.fixture
def payer(make):
    user = make.user(make.company(locale="en"))
    make.session.commit()
    return user


@pytest.mark.parametrize("path", [
    f"/invoices/{TOO_LARGE}", f"/invoices/{TOO_LARGE}/pdf", f"/invoices/{TOO_LARGE}/disputes/new",
    f"/disputes/{TOO_LARGE}", f"/disputes/1/attachments/{TOO_LARGE}", f"/payments/{TOO_LARGE}",
])
def test_a_customer_url_with_a_too_large_id_is_not_found(client, payer, path):
    assert signed_in(client, payer).get(path).status_code == 404


def test_a_too_large_invoice_id_in_the_payment_link_is_ignored(client, payer):
    response = signed_in(client, payer).get(f"/payments/new?invoice={TOO_LARGE}")

    assert response.status_code == 303 and response.headers["Location"] == "/invoices"


def test_a_too_large_invoice_id_posted_to_pay_is_refused_as_invalid(client, payer):
    response = signed_in(client, payer).post("/payments", data={"invoice-0": TOO_LARGE, "attempt_key": "a" * 32})

    assert response.status_code == 400


@pytest.mark.parametrize("path", [
    f"/collections/invoices/{TOO_LARGE}", f"/collections/payments/{TOO_LARGE}", f"/collections/disputes/{TOO_LARGE}",
])
def test_a_staff_url_with_a_too_large_id_is_not_found(client, make, path):
    staff = make.staff()
    make.session.commit()
    assert signed_in(client, staff).get(path).status_code == 404


def test_a_refund_of_a_too_large_allocation_id_is_refused_as_invalid(client, make, payer):
    staff = make.staff()
    payment = make.payment(make.invoice(payer.company, total=100_00), 100_00)
    make.session.commit()

    response = signed_in(client, staff).post(f"/collections/payments/{payment.id}/refunds",
                                             data={"allocation_id": TOO_LARGE, "amount": "1.00"})

    assert response.status_code == 400  # only a tampered form sends it: the page is shown again, nothing refunded


def test_a_number_too_large_for_a_float_is_refused_as_invalid(client, payer):
    # WTForms' NumberRange asks math.isnan first, which overflows on such a number.
    huge = "9" * 400

    assert signed_in(client, payer).get(f"/invoices?page={huge}").status_code == 400
    assert client.post("/payments", data={"invoice-0": huge, "attempt_key": "a" * 32}).status_code == 400
