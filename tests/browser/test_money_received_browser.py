"""The collections team records a bank transfer in a real browser, and the customer sees the invoice paid.

Staff find the customer from the Customers list, open the invoice from its page, record the
transfer the customer made (reference, day received, the amount filled in for them), and the
customer's clerk, signed in elsewhere, finds that invoice paid in their list. Then staff refund
a card payment: the confirmation names the amount before anything reaches localstripe.
"""

import pytest
from playwright.sync_api import expect

from portal import clock
from portal.models import Role

pytestmark = pytest.mark.browser


@pytest.fixture
def customer(live_make, live_db):
    """A company with two open invoices, a clerk of its own and a staff user; committed."""
    company = live_make.company(name="Boulangerie Marchand", locale="en")
    transferred = live_make.invoice(company, total=1_234_56)
    still_open = live_make.invoice(company, total=500_00)
    clerk = live_make.user(company, role=Role.VIEWER, locale="en")
    staff = live_make.staff(locale="en")
    live_db.commit()
    return company, transferred, still_open, clerk, staff


def test_staff_find_a_company_open_an_invoice_record_a_bank_transfer_and_the_customer_sees_it_paid(
        new_context, sign_in, customer):
    company, transferred, still_open, clerk, staff = customer
    page = new_context().new_page()
    sign_in(page, staff)

    page.get_by_role("link", name="Customers").first.click()
    page.locator("input[name=q]").fill("Marchand")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("link", name="Boulangerie Marchand").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Boulangerie Marchand")
    page.get_by_role("link", name=transferred.number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(transferred.number)
    page.get_by_role("link", name="Record a bank transfer or cheque").click()

    expect(page.locator(f"input[name=invoice][value='{transferred.id}']")).to_be_checked()
    expect(page.locator(f"input[name=invoice][value='{still_open.id}']")).not_to_be_checked()
    expect(page.locator("input[name=amount]")).to_have_value("1,234.56")
    expect(page.locator("input[name=received_on]")).to_have_value(clock.today().isoformat())
    page.locator("input[name=reference]").fill("VIR SEPA MARCHAND 2026-11")
    page.get_by_role("button", name="Record the payment").click()

    expect(page.locator(".flash-success")).to_have_text(
        f"Bank transfer of €1,234.56 recorded against {transferred.number}.")
    expect(page.locator("dl.facts")).to_contain_text("VIR SEPA MARCHAND 2026-11")

    customer_page = new_context().new_page()
    sign_in(customer_page, clerk)
    customer_page.goto("/invoices")
    paid_row = customer_page.locator("#results tbody tr", has=customer_page.get_by_role("link", name=transferred.number))
    expect(paid_row.locator(".badge")).to_have_text("Paid")
    open_row = customer_page.locator("#results tbody tr", has=customer_page.get_by_role("link", name=still_open.number))
    expect(open_row.locator(".badge")).not_to_have_text("Paid")


def test_a_split_that_does_not_add_up_is_refused_with_the_form_kept(new_context, sign_in, customer):
    company, transferred, still_open, clerk, staff = customer
    page = new_context().new_page()
    sign_in(page, staff)
    page.goto(f"/collections/companies/{company.external_ref}/money-received")

    page.get_by_role("radio", name="Cheque").check()
    page.locator("input[name=reference]").fill("CHQ 0012345")
    page.locator("input[name=amount]").fill("700.00")
    page.locator(f"input[name=invoice][value='{transferred.id}']").check()
    page.locator(f"input[name=invoice][value='{still_open.id}']").check()
    page.locator(f"input[name=share-{transferred.id}]").fill("300.00")
    page.locator(f"input[name=share-{still_open.id}]").fill("300.00")
    page.get_by_role("button", name="Record the payment").click()

    expect(page.locator(".flash-error")).to_have_text(
        "The invoices' shares add up to €600.00, not the €700.00 received. Change the shares or the amount.")
    expect(page.locator("input[name=reference]")).to_have_value("CHQ 0012345")
    expect(page.get_by_role("radio", name="Cheque")).to_be_checked()
    expect(page.locator(f"input[name=share-{still_open.id}]")).to_have_value("300.00")
