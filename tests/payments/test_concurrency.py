"""Twenty payments of one invoice at once: exactly one charge reaches Stripe.

The app runs over real HTTP (werkzeug's threaded server) on a database of its own, with
real commits, paying through localstripe; twenty threads post the "Pay" form at the same
instant, as twenty tabs or a nervous double-clicker would. On SQLite and on PostgreSQL
(ACQUIT_TEST_DATABASE_URL) alike.
"""

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from portal.approvals import service as approvals
from portal.audit import Actor
from portal.models import InvoicePaymentClaim, Payment, PaymentApproval, PaymentStatus, Role
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import PaymentInProgress, PaymentNotAllowed
from portal.services import services_of
from tests.builders import Builders
from tests.payments.conftest import ATTEMPT_FIELD, CSRF_FIELD, hidden_field, save_card_through_service

PAYERS = 20


@pytest.fixture
def live_context(payments_live_server):
    return services_of(payments_live_server.app).payments


@pytest.fixture
def seeded(live_session, live_context, stripe_api):
    """A company with a saved card and one invoice of 1,234.56, committed for the live server."""
    make = Builders(live_session)
    company = make.company(locale="en")
    payer = make.user(company, locale="en")
    invoice = make.invoice(company, total=1_234_56)
    live_session.commit()
    card = save_card_through_service(live_session, live_context, stripe_api, company=company, user=payer)
    return company, payer, invoice, card


def signed_in(live, user) -> requests.Session:
    browser = requests.Session()
    login_page = browser.get(f"{live.url}/login")
    answer = browser.post(f"{live.url}/login", allow_redirects=False, data={
        "email": user.email, "password": Builders.PASSWORD, "csrf_token": hidden_field(CSRF_FIELD, login_page.text)})
    assert answer.status_code == 303, answer.text
    return browser


def pay_form_from_page(live, browser, invoice) -> dict:
    offer = browser.get(f"{live.url}/payments/new", params={"invoice": invoice.id})
    assert offer.status_code == 200, offer.text
    return {"csrf_token": hidden_field(CSRF_FIELD, offer.text), "attempt_key": hidden_field(ATTEMPT_FIELD, offer.text),
            "invoice-0": str(invoice.id)}


def post_all_at_once(live, browser, forms: list[dict]) -> list[requests.Response]:
    """POST each form from its own thread and connection, all released together."""
    start = threading.Barrier(len(forms))

    def post(form):
        tab = requests.Session()
        tab.cookies.update(browser.cookies)
        start.wait()
        return tab.post(f"{live.url}/payments", data=form, allow_redirects=False, timeout=60)

    with ThreadPoolExecutor(len(forms)) as pool:
        return list(pool.map(post, forms))


def company_payments(live_session, company) -> list[Payment]:
    live_session.expire_all()
    return list(live_session.scalars(select(Payment).where(Payment.company_id == company.id)))


def assert_paid_exactly_once(live_session, stripe_server, company, invoice, payment: Payment) -> None:
    [charge] = stripe_server.succeeded_charges(customer=company.provider_customer_id)
    assert (charge["amount"], charge["payment_intent"]) == (1_234_56, payment.provider_reference)
    assert len(stripe_server.payment_intents(customer=company.provider_customer_id)) == 1
    live_session.refresh(invoice)
    assert (invoice.amount_paid, invoice.amount_due) == (1_234_56, 0)
    assert live_session.get(InvoicePaymentClaim, invoice.id) is None


def test_twenty_tabs_paying_the_same_invoice_make_one_charge(payments_live_server, live_session, stripe_server,
                                                             seeded):
    company, payer, invoice, card = seeded
    browser = signed_in(payments_live_server, payer)
    form = pay_form_from_page(payments_live_server, browser, invoice)
    forms = [{**form, "card": str(card.id), "attempt_key": uuid.uuid4().hex} for _ in range(PAYERS)]

    answers = post_all_at_once(payments_live_server, browser, forms)

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses[303] == 1 and statuses[409] == PAYERS - 1, statuses
    refusals = {answer.text.count("already under way") + 2 * answer.text.count("already paid")
                for answer in answers if answer.status_code == 409}
    assert refusals <= {1, 2}, "every refusal says why: in progress, or already paid"
    [succeeded] = [answer for answer in answers if answer.status_code == 303]
    payments = company_payments(live_session, company)
    assert [(p.status, f"/payments/{p.id}") for p in payments] == [
        (PaymentStatus.SUCCEEDED, succeeded.headers["Location"])]
    assert_paid_exactly_once(live_session, stripe_server, company, invoice, payments[0])


def test_the_same_form_submitted_twenty_times_at_once_is_one_payment(payments_live_server, live_session,
                                                                     stripe_server, seeded):
    company, payer, invoice, card = seeded
    browser = signed_in(payments_live_server, payer)
    form = {**pay_form_from_page(payments_live_server, browser, invoice), "card": str(card.id)}

    answers = post_all_at_once(payments_live_server, browser, [form] * PAYERS)

    assert Counter(answer.status_code for answer in answers) == {303: PAYERS}
    [payment] = company_payments(live_session, company)
    assert {answer.headers["Location"] for answer in answers} == {f"/payments/{payment.id}"}
    assert payment.status == PaymentStatus.SUCCEEDED
    assert_paid_exactly_once(live_session, stripe_server, company, invoice, payment)


def test_the_same_form_above_the_approval_threshold_submitted_twenty_times_at_once_prepares_one_payment(
        payments_live_server, live_session, stripe_server, seeded):
    company, payer, invoice, card = seeded
    admin = Builders(live_session).user(company, role=Role.ADMIN, locale="en")
    approvals.set_rule(live_session, admin, company=company, threshold=1_000_00, payers_may_approve=False)
    live_session.commit()
    browser = signed_in(payments_live_server, payer)
    form = {**pay_form_from_page(payments_live_server, browser, invoice), "card": str(card.id)}

    answers = post_all_at_once(payments_live_server, browser, [form] * PAYERS)

    assert Counter(answer.status_code for answer in answers) == {303: PAYERS}
    live_session.expire_all()
    [approval] = live_session.scalars(select(PaymentApproval).where(PaymentApproval.company_id == company.id))
    assert {answer.headers["Location"] for answer in answers} == {f"/approvals/{approval.id}"}
    assert (approval.amount, company_payments(live_session, company)) == (1_234_56, [])
    assert stripe_server.payment_intents(customer=company.provider_customer_id) == []


def test_twenty_service_calls_with_their_own_sessions_make_one_charge(payments_live_engine, live_session,
                                                                      live_context, stripe_server, seeded):
    company, payer, invoice, card = seeded
    sessions = sessionmaker(bind=payments_live_engine, expire_on_commit=False)
    start = threading.Barrier(PAYERS)

    def pay(attempt: int):
        with sessions() as session:
            start.wait()
            try:
                payment = pay_invoices(
                    session, live_context, Actor.user(payer), company=session.merge(company, load=False),
                    receipt_email=None,
                    request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key=f"service-{attempt}"))
            except (PaymentInProgress, PaymentNotAllowed) as refused:
                return type(refused).__name__
            return (payment.id, payment.status)

    with ThreadPoolExecutor(PAYERS) as pool:
        outcomes = list(pool.map(pay, range(PAYERS)))

    paid = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    assert [status for _, status in paid] == [PaymentStatus.SUCCEEDED], outcomes
    assert set(outcomes) - set(paid) <= {"PaymentInProgress", "PaymentNotAllowed"}
    [payment] = company_payments(live_session, company)
    assert payment.id == paid[0][0]
    assert_paid_exactly_once(live_session, stripe_server, company, invoice, payment)


def test_payers_of_different_companies_sign_in_and_pay_at_the_same_time(payments_live_server, live_session,
                                                                        live_context, stripe_api, stripe_server):
    # Every one of these requests reads, then writes: on SQLite none may fail for the lock.
    make = Builders(live_session)
    seeded = []
    for _ in range(6):
        company = make.company(locale="en")
        payer = make.user(company, locale="en")
        invoice = make.invoice(company, total=1_234_56)
        live_session.commit()
        card = save_card_through_service(live_session, live_context, stripe_api, company=company, user=payer)
        seeded.append((company, payer, invoice, card))
    start = threading.Barrier(len(seeded))

    def sign_in_and_pay(company, payer, invoice, card):
        start.wait()
        browser = signed_in(payments_live_server, payer)
        form = {**pay_form_from_page(payments_live_server, browser, invoice), "card": str(card.id)}
        return browser.post(f"{payments_live_server.url}/payments", data=form, allow_redirects=False, timeout=60)

    with ThreadPoolExecutor(len(seeded)) as pool:
        answers = list(pool.map(lambda row: sign_in_and_pay(*row), seeded))

    assert [answer.status_code for answer in answers] == [303] * len(seeded)
    for company, _, invoice, _ in seeded:
        [payment] = company_payments(live_session, company)
        assert payment.status == PaymentStatus.SUCCEEDED
        assert_paid_exactly_once(live_session, stripe_server, company, invoice, payment)
