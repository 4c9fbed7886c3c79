"""The invoice e-mail staff send again says, for a partly disputed invoice, what the PAY NOW link charges."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from portal.blueprints.app_services import services
from portal.models import OutboxMessage, Payment, PaymentChannel
from portal.payments import fake_gateway
from tests.guest.conftest import attempt_key_on, setup_id_on

PAY_NOW_LINK = re.compile(r"http://portal\.test(/pay/\S+)")


@pytest.mark.parametrize(("locale", "disputed_line", "payable_line", "subject_end"), [
    ("fr", "Contesté, à ne pas payer maintenant : 400,00\N{NO-BREAK SPACE}€", "À payer maintenant : 600,00\N{NO-BREAK SPACE}€",
     ": 600,00\N{NO-BREAK SPACE}€ à régler au plus tard le 15 décembre 2026, le reste est contesté"),
    ("en", "Disputed, not to pay now: €400.00", "To pay now: €600.00",
     ": €600.00 to pay by December 15, 2026, the rest disputed"),
])
def test_a_partly_disputed_invoice_e_mailed_again_names_both_amounts_and_its_link_charges_the_one_to_pay(
        app, db, client, make, login_as, gateway, locale, disputed_line, payable_line, subject_end):
    company = make.company(locale=locale, billing_emails=["ap@acme.test"])
    clerk = make.user(company)
    invoice = make.invoice(company, total=1000_00, due_date=date(2026, 12, 15))
    with app.app_context():
        make.dispute(services().disputes, invoice, clerk, amount=400_00)
    db.commit()

    login_as(make.staff(email="collections@supplier.test"))
    assert client.post(f"/collections/invoices/{invoice.id}/send").status_code == 303
    client.post("/logout")

    [mail] = db.scalars(select(OutboxMessage).where(OutboxMessage.subject.contains(invoice.number))).all()
    assert mail.subject.endswith(subject_end)
    lines = mail.body_text.splitlines()
    assert disputed_line in lines and payable_line in lines
    assert invoice.number in mail.body_html and "400" in mail.body_html and "600" in mail.body_html
    # The guest pays all the link offers: the amount the e-mail gave as to pay now, no more.
    link = PAY_NOW_LINK.search(mail.body_text).group(1)
    shown = client.get(link).get_data(as_text=True)
    setup_id = setup_id_on(shown)
    gateway.complete_setup(setup_id, fake_gateway.SUCCEEDS)
    paid = client.post(link, data={"setup_id": setup_id, "attempt_key": attempt_key_on(shown),
                                   "email": "payer@acme.test"})
    assert paid.status_code == 303
    payment = db.scalar(select(Payment).where(Payment.channel == PaymentChannel.GUEST))
    assert (payment.amount, payment.currency) == (600_00, "EUR")
    assert [charge.amount for charge in gateway.charges.values()] == [600_00]
