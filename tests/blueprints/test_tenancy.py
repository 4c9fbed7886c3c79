"""Who may reach which route, and that a clerk never sees another company's invoices.

Every route of the app is classified here. A new route fails `test_every_route_is_classified`
until it is, and the classification then puts it through the checks below.
"""

import enum
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from portal.approvals.service import set_rule, submit_payment
from portal.audit import Actor
from portal.billing.company_fields import define_field
from portal.blueprints.app_services import services
from portal.models import Role
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.charging import PaymentRequest
from portal.services import services_of
from tests.blueprints.pages import listed_invoice_numbers, visible_text
from tests.builders import PDF_BYTES


class Access(enum.Enum):
    STATIC = "static files, served to anyone"
    PUBLIC = "anyone, signed in or not"
    SIGNED_IN = "anyone signed in, clerk or staff, about their own account only"
    CUSTOMER = "a signed-in clerk, and only their own company's data"
    STAFF = "the supplier's collections staff only"
    API = "the supplier's systems, with an API key"
    PROVIDER = "the payment provider, with a signed request"
    PAY_LINK = "whoever holds a PAY NOW link, for the invoices it names (tests/guest/test_links.py)"


ROUTE_ACCESS = {
    "static": Access.STATIC,
    "auth.home": Access.PUBLIC,
    "auth.login": Access.PUBLIC,
    "health.healthz": Access.PUBLIC,
    "health.readyz": Access.PUBLIC,
    "auth.logout": Access.PUBLIC,
    "auth.forgot_password": Access.PUBLIC,
    "auth.reset_password": Access.PUBLIC,
    "auth.accept_invitation": Access.PUBLIC,
    "auth.change_password": Access.SIGNED_IN,
    "account.profile": Access.SIGNED_IN,
    "account.users": Access.CUSTOMER,
    "account.invite": Access.CUSTOMER,
    "account.change_role": Access.CUSTOMER,
    "account.disable_user": Access.CUSTOMER,
    "account.enable_user": Access.CUSTOMER,
    "account.recipients": Access.CUSTOMER,
    "account.add_recipient": Access.CUSTOMER,
    "account.update_recipient": Access.CUSTOMER,
    "account.remove_recipient": Access.CUSTOMER,
    "account.fields": Access.CUSTOMER,
    "account.define_field": Access.CUSTOMER,
    "account.change_field": Access.CUSTOMER,
    "account.remove_field": Access.CUSTOMER,
    "invoices.fill_fields": Access.CUSTOMER,
    "invoices.index": Access.CUSTOMER,
    "invoices.detail": Access.CUSTOMER,
    "invoices.pdf": Access.CUSTOMER,
    "invoices.facturx": Access.CUSTOMER,
    "invoices.credit_note": Access.CUSTOMER,
    "invoices.download_zip": Access.CUSTOMER,
    "payments.index": Access.CUSTOMER,
    "payments.new": Access.CUSTOMER,
    "payments.create": Access.CUSTOMER,
    "payments.show": Access.CUSTOMER,
    "payments.check": Access.CUSTOMER,
    "payments.cancel": Access.CUSTOMER,
    "payments.cards": Access.CUSTOMER,
    "payments.new_card": Access.CUSTOMER,
    "payments.save_card": Access.CUSTOMER,
    "payments.make_default_card": Access.CUSTOMER,
    "payments.remove_card": Access.CUSTOMER,
    "approvals.index": Access.CUSTOMER,
    "approvals.set_rule": Access.CUSTOMER,
    "approvals.show": Access.CUSTOMER,
    "approvals.approve": Access.CUSTOMER,
    "approvals.reject": Access.CUSTOMER,
    "approvals.withdraw": Access.CUSTOMER,
    "collections.dashboard": Access.STAFF,
    "collections.payments": Access.STAFF,
    "collections.payment": Access.STAFF,
    "collections.refund": Access.STAFF,
    "collections.refund_credit": Access.STAFF,
    "collections.record_transfer": Access.STAFF,
    "collections.cancel_transfer": Access.STAFF,
    "collections.clear_payment_attention": Access.STAFF,
    "collections.attention": Access.STAFF,
    "collections.send_mail_again": Access.STAFF,
    "collections.export_invoices": Access.STAFF,
    "collections.export_payments": Access.STAFF,
    "invoices.export": Access.CUSTOMER,
    "invoices.export_payments": Access.CUSTOMER,
    "api.openapi": Access.PUBLIC,
    "api.put_company": Access.API,
    "api.put_invoice": Access.API,
    "api.post_invoice_batch": Access.API,
    "api.get_invoice": Access.API,
    "api.post_void": Access.API,
    "api.post_credit_note": Access.API,
    "api.list_invoices": Access.API,
    "api.list_payments": Access.API,
    "api.post_company_user": Access.API,
    "api.post_pay_link": Access.API,
    "api.put_custom_field": Access.API,
    "api.list_custom_fields": Access.API,
    "guest.invoice": Access.PAY_LINK,
    "guest.pay": Access.PAY_LINK,
    "guest.payment": Access.PAY_LINK,
    "guest.check": Access.PAY_LINK,
    "guest.pdf": Access.PAY_LINK,
    "collections.invoices": Access.STAFF,
    "collections.invoices_csv": Access.STAFF,
    "collections.payments_csv": Access.STAFF,
    "collections.companies": Access.STAFF,
    "collections.companies_csv": Access.STAFF,
    "collections.company": Access.STAFF,
    "collections.company_invoices_csv": Access.STAFF,
    "collections.void": Access.STAFF,
    "collections.staff": Access.STAFF,
    "collections.invite": Access.STAFF,
    "collections.disable_staff": Access.STAFF,
    "collections.enable_staff": Access.STAFF,
    "collections.invoice": Access.STAFF,
    "collections.send_invoice": Access.STAFF,
    "collections.revoke_links": Access.STAFF,
    "disputes.index": Access.CUSTOMER,
    "disputes.new": Access.CUSTOMER,
    "disputes.show": Access.CUSTOMER,
    "disputes.post_message": Access.CUSTOMER,
    "disputes.withdraw": Access.CUSTOMER,
    "disputes.attachment": Access.CUSTOMER,
    "collections.disputes": Access.STAFF,
    "collections.dispute": Access.STAFF,
    "collections.post_dispute_message": Access.STAFF,
    "collections.credit_dispute": Access.STAFF,
    "collections.reject_dispute": Access.STAFF,
    "collections.dispute_attachment": Access.STAFF,
    "webhooks.stripe_webhook": Access.PROVIDER,
    "autopay.index": Access.CUSTOMER,
    "autopay.choose_terms": Access.CUSTOMER,
    "autopay.review": Access.CUSTOMER,
    "autopay.enrol": Access.CUSTOMER,
    "autopay.confirm_cancel": Access.CUSTOMER,
    "autopay.cancel": Access.CUSTOMER,
    "autopay.approve": Access.CUSTOMER,
    "collections.autopay": Access.STAFF,
    "collections.reminders": Access.STAFF,
    "collections.save_default_schedule": Access.STAFF,
    "collections.company_reminders": Access.STAFF,
    "collections.save_company_schedule": Access.STAFF,
    "collections.company_statement_pdf": Access.STAFF,
    "collections.email_company_statement": Access.STAFF,
    "collections.save_monthly_statement": Access.STAFF,
    "statements.index": Access.CUSTOMER,
    "statements.pdf": Access.CUSTOMER,
    "guest.several": Access.PAY_LINK,
    "guest.pay_several": Access.PAY_LINK,
    "guest.several_payment": Access.PAY_LINK,
    "guest.check_several": Access.PAY_LINK,
}

HOW_TO_CLASSIFY = """\
Add each to ROUTE_ACCESS in tests/blueprints/test_tenancy.py:
  Access.CUSTOMER - for a clerk: guard the view with @clerk_required and fetch only through
                    the company-scoped queries (portal.billing.history.customer_invoices /
                    find_customer_invoice); the tests then check other companies get 404;
  Access.STAFF    - for the supplier's staff: guard it with @staff_required;
  Access.PUBLIC   - for anyone, signed in or not (sign-in, password reset...);
  Access.SIGNED_IN - for any signed-in user's own account (guard it with @login_required);
  Access.STATIC   - for files anyone may fetch;
  Access.API      - for the supplier's ERP: register it with portal.blueprints.api.operation;
  Access.PROVIDER - for the payment provider's signed callbacks.
If its URL takes an argument this test does not know yet, add an example value to URL_ARGUMENTS,
or, for a company's own object, to the ids the `tenants` fixture makes."""

B_AMOUNT = 98_765  # 987.65, an amount no invoice of company A has

pytestmark = pytest.mark.usefixtures("english")


def routes(app, access: Access):
    return [rule for rule in app.url_map.iter_rules() if ROUTE_ACCESS.get(rule.endpoint) is access]


def methods(rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def build(app, rule, **values) -> str:
    return app.url_map.bind("portal.test").build(rule.endpoint, values, method=methods(rule)[0])


def send(client, method: str, url: str, **kwargs):
    return client.open(url, method=method, **kwargs)


# Example values for URL arguments other than a company's own objects (the point of the tests).
URL_ARGUMENTS = {"filename": "portal.css", "token": "not-a-real-token", "ref": "CUST-ALPHA", "number": "INV-A-0001",
                 "message_id": 1, "key": "cost_centre", "file_format": "pdf"}
OWN_OBJECTS = ("invoice_id", "payment_id", "card_id", "dispute_id", "attachment_id", "user_id", "recipient_id",
               "approval_id", "field_id", "credit_note_id")


def url_for_rule(app, rule, ids: dict | None = None) -> str:
    values = {}
    for argument in rule.arguments:
        if ids is not None and argument in ids:
            values[argument] = ids[argument]
        elif argument in URL_ARGUMENTS:
            values[argument] = URL_ARGUMENTS[argument]
        else:
            pytest.fail(f"{rule.endpoint} ({rule.rule}) takes <{argument}>, which this test cannot fill.\n"
                        + HOW_TO_CLASSIFY)
    return build(app, rule, **values)


def saved_card(app, make, company, user):
    """A card saved through the app's (fake) payment gateway, as the card page would."""
    context = services_of(app).payments
    setup = start_saving_card(make.session, context, company=company, email=user.email)
    context.gateway.complete_setup(setup.setup_id)
    return finish_saving_card(make.session, context, Actor.user(user), company=company, setup_id=setup.setup_id)


def prepared_approval(app, make, company, preparer, invoice, card):
    """A payment of `invoice` waiting for approval under a rule that every payment needs one."""
    set_rule(make.session, make.user(company, role=Role.ADMIN), company=company, threshold=1, payers_may_approve=False)
    return submit_payment(make.session, services_of(app).payments, preparer, company=company,
                          request=PaymentRequest(invoice_ids=(invoice.id,), attempt_key=f"tenancy-{company.id}",
                                                 card_id=card.id), receipt_email=None)


@pytest.fixture
def tenants(app, make):
    """Two customer companies with look-alike invoices, payments, cards and disputes, a clerk of A, and staff."""
    a = make.company(name="Alpha Widgets SAS", ref="CUST-ALPHA", locale="en")
    b = make.company(name="Bravo Secret Holdings", ref="CUST-BRAVO", locale="en")
    a_invoices = [
        make.invoice(a, number="INV-A-0001", total=12_000, po_number="PO-A-1"),
        make.invoice(a, number="INV-A-0002", total=34_500, po_number="PO-SHARED"),
        make.invoice(a, number="INV-A-0003", total=50_000),
    ]
    b_invoices = [
        make.invoice(b, number="INV-B-0001", total=B_AMOUNT, po_number="PO-B-CONFIDENTIAL"),
        make.invoice(b, number="INV-B-0002", total=12_000, po_number="PO-SHARED"),
        make.invoice(b, number="INV-B-0003", total=34_500),
    ]
    a_draft = make.invoice(a, number="INV-A-DRAFT", total=77_700, issue=False)
    # An admin may use every customer route, so here only the company decides what is found;
    # tests/blueprints/test_permissions.py holds each role to the permission matrix.
    clerk = make.user(a, role=Role.ADMIN)
    b_clerk = make.user(b)
    staff = make.staff(locale="en")
    a_payment, b_payment = make.payment(a_invoices[2], 1_000), make.payment(b_invoices[2], 1_000)
    a_credit_note, b_credit_note = make.credit_note(a_invoices[0], 500), make.credit_note(b_invoices[0], 500)
    a_card, b_card = saved_card(app, make, a, clerk), saved_card(app, make, b, b_clerk)
    a_approval = prepared_approval(app, make, a, clerk, a_invoices[0], a_card)
    b_approval = prepared_approval(app, make, b, b_clerk, b_invoices[0], b_card)
    with app.app_context():
        disputes = services().disputes
    a_dispute = make.dispute(disputes, a_invoices[1], clerk, files=(("delivery-note.pdf", PDF_BYTES),))
    b_dispute = make.dispute(disputes, b_invoices[0], b_clerk, message="Bravo Secret pricing is wrong",
                             files=(("CUST-BRAVO contract.pdf", PDF_BYTES),))
    a_field = define_field(make.session, make.ACTOR, a.id, label="Cost centre", kind="text")
    b_field = define_field(make.session, make.ACTOR, b.id, label="Bravo Secret centre", kind="text")
    make.session.commit()
    return SimpleNamespace(
        a=a, b=b, a_invoices=a_invoices, b_invoices=b_invoices, a_draft=a_draft, clerk=clerk, staff=staff,
        a_ids={"invoice_id": a_invoices[0].id, "payment_id": a_payment.id, "card_id": a_card.id,
               "dispute_id": a_dispute.id, "attachment_id": a_dispute.messages[0].attachments[0].id,
               "staff_id": staff.id, "user_id": clerk.id, "recipient_id": a.recipients[0].id,
               "approval_id": a_approval.id, "field_id": a_field.id, "credit_note_id": a_credit_note.id},
        b_ids={"invoice_id": b_invoices[0].id, "payment_id": b_payment.id, "card_id": b_card.id,
               "dispute_id": b_dispute.id, "attachment_id": b_dispute.messages[0].attachments[0].id,
               "staff_id": staff.id, "user_id": b_clerk.id, "recipient_id": b.recipients[0].id,
               "approval_id": b_approval.id, "field_id": b_field.id, "credit_note_id": b_credit_note.id},
    )


def assert_no_data_of_b(body: str, tenants) -> None:
    for secret in ["Bravo Secret", "CUST-BRAVO", "PO-B-CONFIDENTIAL", "987.65", "987,65",
                   *[invoice.number for invoice in tenants.b_invoices]]:
        assert secret not in body, f"company B's {secret!r} shown to a clerk of company A"


# --- Every route is classified -------------------------------------------------------------


def test_every_route_is_classified(app):
    unclassified = [f"  {rule.endpoint}  {rule.rule}  {methods(rule)}"
                    for rule in app.url_map.iter_rules() if rule.endpoint not in ROUTE_ACCESS]
    assert not unclassified, (
        "Routes nobody has said who may reach:\n" + "\n".join(unclassified) + "\n" + HOW_TO_CLASSIFY
    )


def test_every_classification_names_a_route_that_exists(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    stale = sorted(set(ROUTE_ACCESS) - endpoints)
    assert not stale, f"ROUTE_ACCESS names routes the app no longer has; remove them: {stale}"


# --- Customer routes -----------------------------------------------------------------------


def customer_requests(app, ids):
    for rule in routes(app, Access.CUSTOMER):
        for method in methods(rule):
            yield rule, method, url_for_rule(app, rule, ids)


def test_customer_routes_send_an_anonymous_visitor_to_sign_in(app, client, tenants):
    for _rule, method, url in customer_requests(app, tenants.a_ids):
        response = send(client, method, url)

        assert response.status_code == 302, f"{method} {url}"
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", f"{method} {url} -> {response.headers['Location']}"
        assert tenants.a_invoices[0].number not in response.get_data(as_text=True)


def test_customer_routes_send_staff_to_their_dashboard(app, client, login_as, tenants):
    login_as(tenants.staff)
    for _rule, method, url in customer_requests(app, tenants.a_ids):
        response = send(client, method, url)

        assert response.status_code == 302, f"{method} {url}"
        assert response.headers["Location"] == "/collections/", f"{method} {url}"


def test_customer_routes_answer_a_clerk_about_their_own_objects(app, client, login_as, tenants):
    """The control for the 404s below: the same requests find the clerk's own invoice, payment or card.

    A bare POST may still be refused for its missing form (400) or the object's state (409).
    """
    login_as(tenants.clerk)
    for _rule, method, url in customer_requests(app, tenants.a_ids):
        status = send(client, method, url).status_code
        assert status != 404 and status < 500, f"{method} {url} -> {status}"


def object_routes(app):
    return [rule for rule in routes(app, Access.CUSTOMER) if set(rule.arguments) & set(OWN_OBJECTS)]


def invoice_routes(app):
    return [rule for rule in routes(app, Access.CUSTOMER) if "invoice_id" in rule.arguments]


def test_the_object_routes_are_known(app):
    assert {rule.endpoint for rule in object_routes(app)} >= {
        "invoices.detail", "invoices.pdf", "invoices.facturx", "invoices.credit_note",
        "payments.show", "payments.check", "payments.cancel",
        "payments.make_default_card", "payments.remove_card", "disputes.new", "disputes.show",
        "disputes.post_message", "disputes.withdraw", "disputes.attachment", "autopay.approve",
        "approvals.show", "approvals.approve", "approvals.reject", "approvals.withdraw",
    }


@pytest.mark.parametrize("hx_request", [False, True], ids=["page", "htmx"])
def test_a_clerk_asking_for_another_companys_payment_or_card_gets_404(app, client, login_as, tenants, hx_request):
    login_as(tenants.clerk)
    headers = {"HX-Request": "true"} if hx_request else {}
    for rule in object_routes(app):
        for method in methods(rule):
            for ids in (tenants.b_ids, {name: 10**9 for name in OWN_OBJECTS}):
                url = url_for_rule(app, rule, ids)
                response = send(client, method, url, headers=headers)

                assert response.status_code == 404, f"{method} {url} -> {response.status_code}"
                assert_no_data_of_b(response.get_data(as_text=True), tenants)


def test_own_account_routes_send_an_anonymous_visitor_to_sign_in_and_serve_clerks_and_staff(
        app, client, login_as, tenants):
    own_account_routes = routes(app, Access.SIGNED_IN)
    assert own_account_routes
    for rule in own_account_routes:
        response = send(client, "GET", url_for_rule(app, rule))
        assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    for user in (tenants.clerk, tenants.staff):
        login_as(user)
        for rule in own_account_routes:
            assert send(client, "GET", url_for_rule(app, rule)).status_code == 200, rule.endpoint
        client.post("/logout")


def test_api_routes_refuse_a_request_without_a_key(app, client):
    for rule in routes(app, Access.API):
        for method in methods(rule):
            url = url_for_rule(app, rule)
            response = send(client, method, url, json={})
            assert response.status_code == 401, f"{method} {url}"
            assert response.json["error"]["code"] == "unauthenticated"


def test_pay_link_routes_refuse_a_made_up_token(app, client, tenants):
    for rule in routes(app, Access.PAY_LINK):
        for method in methods(rule):
            response = send(client, method, url_for_rule(app, rule, tenants.a_ids))
            assert response.status_code == 404, f"{method} {rule.rule}"
            assert "This payment link is not valid" in visible_text(response)


def test_provider_routes_refuse_an_unsigned_request(app, client):
    for rule in routes(app, Access.PROVIDER):
        for method in methods(rule):
            response = send(client, method, url_for_rule(app, rule), data=b"{}")
            assert response.status_code == 400


@pytest.mark.parametrize("whose", ["company B's", "a non-existent", "company A's draft"])
@pytest.mark.parametrize("hx_request", [False, True], ids=["page", "htmx"])
def test_a_clerk_asking_for_an_invoice_that_is_not_theirs_to_see_gets_404(
    app, client, login_as, tenants, whose, hx_request
):
    login_as(tenants.clerk)
    ids = {
        "company B's": [invoice.id for invoice in tenants.b_invoices],
        "a non-existent": [max(invoice.id for invoice in tenants.b_invoices + tenants.a_invoices) + 1000],
        "company A's draft": [tenants.a_draft.id],
    }[whose]
    headers = {"HX-Request": "true"} if hx_request else {}
    for rule in invoice_routes(app):
        for method in methods(rule):
            for invoice_id in ids:
                url = url_for_rule(app, rule, {**tenants.a_ids, "invoice_id": invoice_id})
                response = send(client, method, url, headers=headers)

                assert response.status_code == 404, f"{method} {url}"
                body = response.get_data(as_text=True)
                assert "We could not find that page." in visible_text(response)
                assert_no_data_of_b(body, tenants)
                assert "INV-A-DRAFT" not in body and "777.00" not in body


def test_a_clerk_asking_for_b_invoices_as_json_gets_a_bare_404(app, client, login_as, tenants):
    login_as(tenants.clerk)
    for rule in invoice_routes(app):
        url = url_for_rule(app, rule, tenants.b_ids)
        response = send(client, methods(rule)[0], url, headers={"Accept": "application/json"})

        assert response.status_code == 404
        assert response.json == {"error": {"code": "not_found", "message": "We could not find that page.", "field": None}}


# --- Staff routes --------------------------------------------------------------------------


def test_staff_routes_send_an_anonymous_visitor_to_sign_in(app, client, tenants):
    for rule in routes(app, Access.STAFF):
        for method in methods(rule):
            url = url_for_rule(app, rule, tenants.a_ids)
            response = send(client, method, url)

            assert response.status_code == 302, f"{method} {url}"
            assert urlsplit(response.headers["Location"]).path == "/login"


@pytest.mark.parametrize("hx_request", [False, True], ids=["page", "htmx"])
def test_staff_routes_do_not_exist_for_clerks(app, client, login_as, tenants, hx_request):
    """To a customer's clerk every staff page is missing (404), as an address that was never a page is:
    a clerk learns neither that it exists nor anything it holds, whatever objects it names."""
    login_as(tenants.clerk)
    headers = {"HX-Request": "true"} if hx_request else {}
    staff_routes = routes(app, Access.STAFF)
    under_collections = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/collections")}
    assert under_collections <= {rule.endpoint for rule in staff_routes}, "a /collections page is not a staff route"
    for rule in staff_routes:
        for method in methods(rule):
            for ids in (tenants.a_ids, tenants.b_ids):
                url = url_for_rule(app, rule, ids)
                response = send(client, method, url, headers=headers)

                assert response.status_code == 404, f"{method} {url} -> {response.status_code}"
                assert "We could not find that page." in visible_text(response)
                assert_no_data_of_b(response.get_data(as_text=True), tenants)


def test_staff_routes_answer_staff(app, client, login_as, tenants):
    """A bare POST may be refused for its missing form (400), but never as forbidden or missing."""
    login_as(tenants.staff)
    for rule in routes(app, Access.STAFF):
        for method in methods(rule):
            status = send(client, method, url_for_rule(app, rule, tenants.a_ids)).status_code
            assert status not in (403, 404) and status < 500, f"{method} {rule.rule} -> {status}"


# --- Public routes -------------------------------------------------------------------------


def test_public_and_static_routes_answer_an_anonymous_visitor(app, client):
    for access in (Access.PUBLIC, Access.STATIC):
        for rule in routes(app, access):
            for method in methods(rule):
                url = url_for_rule(app, rule)
                response = send(client, method, url)

                assert response.status_code < 500, f"{method} {url}"
                assert response.status_code not in (401, 403), f"{method} {url}"


# --- The invoice list: no filter, search, sort or page reaches another company -------------


def listed(client, **params) -> list[str]:
    response = client.get("/invoices", query_string=params, headers={"HX-Request": "true"})
    assert response.status_code == 200, (params, response.get_data(as_text=True))
    return listed_invoice_numbers(response)


@pytest.fixture
def clerk_client(login_as, tenants):
    return login_as(tenants.clerk)


def test_the_list_shows_only_the_clerks_issued_invoices(clerk_client, tenants):
    response = clerk_client.get("/invoices")

    assert sorted(listed_invoice_numbers(response)) == ["INV-A-0001", "INV-A-0002", "INV-A-0003"]
    assert_no_data_of_b(response.get_data(as_text=True), tenants)


@pytest.mark.parametrize(
    "search",
    ["INV-B-0001", "INV-B", "B-0001", "PO-B-CONFIDENTIAL", "CONFIDENTIAL", "987.65", "987,65", "€987.65",
     "Bravo", "CUST-BRAVO"],
)
def test_searching_for_another_companys_invoice_finds_nothing(clerk_client, tenants, search):
    response = clerk_client.get("/invoices", query_string={"q": search}, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert listed_invoice_numbers(response) == []
    assert "No invoice matches these filters." in visible_text(response)
    assert_no_data_of_b(response.get_data(as_text=True), tenants)


@pytest.mark.parametrize(
    ("search", "expected"),
    [("INV-A-0001", ["INV-A-0001"]), ("PO-SHARED", ["INV-A-0002"]), ("345.00", ["INV-A-0002"]),
     ("120", ["INV-A-0001"])],
)
def test_the_same_searches_find_the_clerks_own_invoices(clerk_client, search, expected):
    assert listed(clerk_client, q=search) == expected


def test_an_amount_range_around_another_companys_invoice_finds_nothing(clerk_client):
    assert listed(clerk_client, amount_min="987.65", amount_max="987.65") == []
    assert listed(clerk_client, amount_min="500.01") == []


def test_no_combination_of_filters_sort_and_page_reaches_another_company(clerk_client, tenants):
    own = {invoice.number for invoice in tenants.a_invoices}
    seen = set()
    for status in ["", "open", "overdue", "paid", "partially_paid", "void"]:
        for sort in ["due_date", "issue_date", "amount", "number"]:
            for direction in ["asc", "desc"]:
                for page in [1, 2, 999_999]:
                    numbers = listed(clerk_client, status=status, sort=sort, direction=direction,
                                     page=page, per_page=10)
                    assert set(numbers) <= own, (status, sort, direction, page, numbers)
                    seen.update(numbers)
    assert seen == own
