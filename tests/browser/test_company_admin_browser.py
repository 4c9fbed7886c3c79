"""A company admin brings a colleague in, in Chromium: the invitation goes through a real SMTP
server, the colleague opens the account from the e-mail, is made a viewer, and can no longer pay."""

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.models import Payment, Role, User
from tests.browser.conftest import see_what_the_server_committed

pytestmark = pytest.mark.browser

INVITATION_LINK = re.compile(r"http\S+/invitation/\S+")
PASSWORD = "colleague's own password"


def test_an_admin_invites_a_colleague_who_accepts_from_the_email_is_made_a_viewer_and_cannot_pay(
        new_context, live_db, live_make, mailbox, sign_in):
    run = uuid.uuid4().hex[:8]
    company = live_make.company(name=f"Acme {run} SAS", locale="en")
    admin = live_make.user(company, role=Role.ADMIN, email=f"admin-{run}@acme.test")
    invoice = live_make.invoice(company, number=f"INV-ADM-{run}", total=45_000)
    live_db.commit()
    colleague_email = f"colleague-{run}@acme.test"

    admin_page = new_context().new_page()
    sign_in(admin_page, admin)
    admin_page.get_by_role("link", name="Users and roles").first.click()
    expect(admin_page.locator("h1")).to_have_text("Users and roles")
    invite = admin_page.locator("section.invite form")
    invite.get_by_label("E-mail").fill(colleague_email)
    invite.get_by_label("Role").select_option("payer")
    invite.get_by_role("button", name="Send the invitation").click()
    expect(admin_page.locator(".flash-success")).to_have_text(f"Invitation sent to {colleague_email}.")
    expect(admin_page.locator("table.people")).to_contain_text("Invited, not yet accepted")

    [invitation] = mailbox(colleague_email)
    accept_url = INVITATION_LINK.search(invitation.text_body()).group(0)
    colleague_page = new_context().new_page()
    colleague_page.goto(accept_url)
    colleague_page.get_by_label("New password", exact=True).fill(PASSWORD)
    colleague_page.get_by_label("Repeat the new password").fill(PASSWORD)
    colleague_page.get_by_role("button", name="Open my account").click()
    colleague_page.wait_for_url(re.compile(r"/invoices$"))
    expect(colleague_page.get_by_role("button", name="Pay the selected invoices")).to_be_visible()

    admin_page.reload()
    row = admin_page.locator("table.people tr", has_text=colleague_email)
    expect(row).to_contain_text("Active")
    row.get_by_label(f"Role of {colleague_email}").select_option("viewer")
    row.get_by_role("button", name="Change").click()
    expect(admin_page.locator(".flash-success")).to_have_text(f"{colleague_email} is now: Viewer.")

    colleague_page.reload()
    expect(colleague_page.get_by_text(invoice.number)).to_be_visible()
    expect(colleague_page.get_by_role("button", name="Pay the selected invoices")).to_have_count(0)
    colleague_page.get_by_role("link", name=invoice.number).click()
    expect(colleague_page.get_by_role("link", name="Pay this invoice")).to_have_count(0)
    refused = colleague_page.goto(f"/payments/new?invoice={invoice.id}")
    assert refused.status == 403
    expect(colleague_page.locator("main")).to_contain_text("You are not allowed to do that.")

    see_what_the_server_committed(live_db)
    colleague = live_db.scalar(select(User).where(User.email == colleague_email))
    assert (colleague.company_id, colleague.role, colleague.password_hash is not None) == (
        company.id, Role.VIEWER, True)
    assert live_db.scalars(select(Payment).where(Payment.company_id == company.id)).all() == []
