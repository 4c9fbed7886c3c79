"""Who may reach which route, and that a clerk never sees another company's invoices.

Every route of the app is classified here. A new route fails `test_every_route_is_classified`
until it is, and the classification then puts it through the checks below.
"""

import enum
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from tests.blueprints.pages import listed_invoice_numbers, visible_text


class Access(enum.Enum):
    STATIC = "static files, served to anyone"
    PUBLIC = "anyone, signed in or not"
    CUSTOMER = "a signed-in clerk, and only their own company's data"
    STAFF = "the supplier's collections staff only"


ROUTE_ACCESS = {
    "static": Access.STATIC,
    "auth.home": Access.PUBLIC,
    "auth.login": Access.PUBLIC,
    "auth.logout": Access.PUBLIC,
    "auth.forgot_password": Access.PUBLIC,
    "auth.reset_password": Access.PUBLIC,
    "invoices.index": Access.CUSTOMER,
    "invoices.detail": Access.CUSTOMER,
    "invoices.pdf": Access.CUSTOMER,
    "collections.dashboard": Access.STAFF,
}

HOW_TO_CLASSIFY = """\
Add each to ROUTE_ACCESS in tests/blueprints/test_tenancy.py:
  Access.CUSTOMER - for a clerk: guard the view with @clerk_required and fetch only through
                    the company-scoped queries (portal.billing.history.customer_invoices /
                    find_customer_invoice); the tests then check other companies get 404;
  Access.STAFF    - for the supplier's staff: guard it with @staff_required;
  Access.PUBLIC   - for anyone, signed in or not (sign-in, password reset...);
  Access.STATIC   - for files anyone may fetch.
If its URL takes an argument this test does not know yet, add an example value to URL_ARGUMENTS."""

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


# Example values for URL arguments other than an invoice id (which is the point of the tests).
URL_ARGUMENTS = {"filename": "portal.css", "token": "not-a-real-token"}


def url_for_rule(app, rule, invoice_id: int | None = None) -> str:
    values = {}
    for argument in rule.arguments:
        if argument == "invoice_id":
            values[argument] = invoice_id
        elif argument in URL_ARGUMENTS:
            values[argument] = URL_ARGUMENTS[argument]
        else:
            pytest.fail(f"{rule.endpoint} ({rule.rule}) takes <{argument}>, which this test cannot fill.\n"
                        + HOW_TO_CLASSIFY)
    return build(app, rule, **values)


@pytest.fixture
def tenants(make):
    """Two customer companies with look-alike invoices, a clerk of A, and a staff member."""
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
    clerk = make.user(a)
    staff = make.staff(locale="en")
    make.session.commit()
    return SimpleNamespace(a=a, b=b, a_invoices=a_invoices, b_invoices=b_invoices, a_draft=a_draft,
                           clerk=clerk, staff=staff)


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


def customer_requests(app, invoice_id):
    for rule in routes(app, Access.CUSTOMER):
        for method in methods(rule):
            yield rule, method, url_for_rule(app, rule, invoice_id)


def test_customer_routes_send_an_anonymous_visitor_to_sign_in(app, client, tenants):
    for rule, method, url in customer_requests(app, tenants.a_invoices[0].id):
        response = send(client, method, url)

        assert response.status_code == 302, f"{method} {url}"
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", f"{method} {url} -> {response.headers['Location']}"
        assert tenants.a_invoices[0].number not in response.get_data(as_text=True)


def test_customer_routes_send_staff_to_their_dashboard(app, client, login_as, tenants):
    login_as(tenants.staff)
    for rule, method, url in customer_requests(app, tenants.a_invoices[0].id):
        response = send(client, method, url)

        assert response.status_code == 302, f"{method} {url}"
        assert response.headers["Location"] == "/collections/", f"{method} {url}"


def test_customer_routes_answer_a_clerk_about_their_own_invoice(app, client, login_as, tenants):
    """The control for the 404s below: the same requests succeed on the clerk's own invoice."""
    login_as(tenants.clerk)
    for rule, method, url in customer_requests(app, tenants.a_invoices[0].id):
        assert send(client, method, url).status_code < 400, f"{method} {url}"


def invoice_routes(app):
    return [rule for rule in routes(app, Access.CUSTOMER) if "invoice_id" in rule.arguments]


def test_the_invoice_routes_are_known(app):
    assert {rule.endpoint for rule in invoice_routes(app)} >= {"invoices.detail", "invoices.pdf"}


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
                url = url_for_rule(app, rule, invoice_id)
                response = send(client, method, url, headers=headers)

                assert response.status_code == 404, f"{method} {url}"
                body = response.get_data(as_text=True)
                assert "We could not find that page." in visible_text(response)
                assert_no_data_of_b(body, tenants)
                assert "INV-A-DRAFT" not in body and "777.00" not in body


def test_a_clerk_asking_for_b_invoices_as_json_gets_a_bare_404(app, client, login_as, tenants):
    login_as(tenants.clerk)
    for rule in invoice_routes(app):
        url = url_for_rule(app, rule, tenants.b_invoices[0].id)
        response = client.get(url, headers={"Accept": "application/json"})

        assert response.status_code == 404
        assert response.json == {"error": {"code": 404, "message": "We could not find that page."}}


# --- Staff routes --------------------------------------------------------------------------


def test_staff_routes_send_an_anonymous_visitor_to_sign_in(app, client, tenants):
    for rule in routes(app, Access.STAFF):
        for method in methods(rule):
            url = url_for_rule(app, rule)
            response = send(client, method, url)

            assert response.status_code == 302, f"{method} {url}"
            assert urlsplit(response.headers["Location"]).path == "/login"


def test_staff_routes_refuse_clerks(app, client, login_as, tenants):
    login_as(tenants.clerk)
    for rule in routes(app, Access.STAFF):
        for method in methods(rule):
            url = url_for_rule(app, rule)
            response = send(client, method, url)

            assert response.status_code == 403, f"{method} {url}"
            assert "You are not allowed to do that." in visible_text(response)
            assert_no_data_of_b(response.get_data(as_text=True), tenants)


def test_staff_routes_answer_staff(app, client, login_as, tenants):
    login_as(tenants.staff)
    for rule in routes(app, Access.STAFF):
        for method in methods(rule):
            assert send(client, method, url_for_rule(app, rule)).status_code < 400


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
