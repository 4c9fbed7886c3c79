"""The permission matrix, held exactly: every customer route × admin, payer, viewer × another company.

`EXPECTED_MATRIX` and `ROUTE_ACTION` below are written out by hand on purpose: changing who may
do what, or adding a customer route, fails here until this file says so too.
"""

import pytest

from portal.accounts.permissions import MATRIX, Action, Role, may, role_may
from tests.blueprints.test_tenancy import (
    OWN_OBJECTS,
    Access,
    methods,
    routes,
    send,
    tenants,  # noqa: F401  (a fixture, used by name)
    url_for_rule,
)

pytestmark = pytest.mark.usefixtures("english")

EXPECTED_MATRIX = {
    Role.ADMIN: set(Action),
    Role.PAYER: {Action.VIEW_INVOICES, Action.DOWNLOAD, Action.FILL_FIELDS, Action.PAY, Action.SAVE_CARDS,
                 Action.AUTOPAY, Action.DISPUTE, Action.APPROVE_PAYMENTS},
    Role.VIEWER: {Action.VIEW_INVOICES, Action.DOWNLOAD, Action.EXPORT},
}

#: Routes every signed-in clerk reaches whatever their role: their own profile and actions.
ANY_CLERK = "any clerk"

ROUTE_ACTION = {
    "invoices.index": Action.VIEW_INVOICES,
    "invoices.detail": Action.VIEW_INVOICES,
    "invoices.pdf": Action.DOWNLOAD,
    "invoices.facturx": Action.DOWNLOAD,
    "invoices.credit_note": Action.DOWNLOAD,
    "invoices.download_zip": Action.DOWNLOAD,
    "invoices.export": Action.EXPORT,
    "invoices.export_payments": Action.EXPORT,
    "payments.index": Action.VIEW_INVOICES,
    "payments.show": Action.VIEW_INVOICES,
    "payments.new": Action.PAY,
    "payments.create": Action.PAY,
    "payments.check": Action.PAY,
    "payments.cancel": Action.PAY,
    "payments.cards": Action.SAVE_CARDS,
    "payments.new_card": Action.SAVE_CARDS,
    "payments.save_card": Action.SAVE_CARDS,
    "payments.make_default_card": Action.SAVE_CARDS,
    "payments.remove_card": Action.SAVE_CARDS,
    "disputes.index": Action.VIEW_INVOICES,
    "disputes.show": Action.VIEW_INVOICES,
    "disputes.attachment": Action.DOWNLOAD,
    "disputes.new": Action.DISPUTE,
    "disputes.post_message": Action.DISPUTE,
    "disputes.withdraw": Action.DISPUTE,
    "autopay.index": Action.VIEW_INVOICES,
    "autopay.choose_terms": Action.AUTOPAY,
    "autopay.review": Action.AUTOPAY,
    "autopay.enrol": Action.AUTOPAY,
    "autopay.confirm_cancel": Action.AUTOPAY,
    "autopay.cancel": Action.AUTOPAY,
    "autopay.approve": Action.AUTOPAY,
    "account.users": Action.MANAGE_USERS,
    "account.invite": Action.MANAGE_USERS,
    "account.change_role": Action.MANAGE_USERS,
    "account.disable_user": Action.MANAGE_USERS,
    "account.enable_user": Action.MANAGE_USERS,
    "account.recipients": Action.MANAGE_RECIPIENTS,
    "account.add_recipient": Action.MANAGE_RECIPIENTS,
    "account.update_recipient": Action.MANAGE_RECIPIENTS,
    "account.remove_recipient": Action.MANAGE_RECIPIENTS,
    "approvals.index": Action.VIEW_INVOICES,
    "approvals.show": Action.VIEW_INVOICES,
    "approvals.set_rule": Action.SET_APPROVAL_RULE,
    "approvals.approve": Action.APPROVE_PAYMENTS,
    "approvals.reject": Action.APPROVE_PAYMENTS,
    "approvals.withdraw": Action.PAY,
    "account.fields": Action.MANAGE_FIELDS,
    "account.define_field": Action.MANAGE_FIELDS,
    "account.change_field": Action.MANAGE_FIELDS,
    "account.remove_field": Action.MANAGE_FIELDS,
    "invoices.fill_fields": Action.FILL_FIELDS,
    "statements.index": Action.VIEW_INVOICES,
    "statements.pdf": Action.DOWNLOAD,
}


def test_the_matrix_is_exactly_the_one_agreed():
    assert {role: set(actions) for role, actions in MATRIX.items()} == EXPECTED_MATRIX


def test_only_an_active_clerk_with_the_role_may(make):
    company = make.company()
    assert may(make.user(company, role=Role.VIEWER), Action.VIEW_INVOICES)
    assert not may(make.user(company, role=Role.VIEWER), Action.PAY)
    assert not may(make.user(company, role=Role.ADMIN, active=False), Action.VIEW_INVOICES)
    assert not may(make.staff(), Action.VIEW_INVOICES)
    assert not may(None, Action.VIEW_INVOICES)
    assert not role_may("owner", Action.VIEW_INVOICES)


def test_every_customer_route_has_a_rule_and_declares_it(app):
    customer_routes = {rule.endpoint for rule in routes(app, Access.CUSTOMER)}
    missing = sorted(customer_routes - set(ROUTE_ACTION))
    assert not missing, ("Customer routes with no permission rule: add each to ROUTE_ACTION in "
                         f"tests/blueprints/test_permissions.py and guard it with permission_required: {missing}")
    assert sorted(set(ROUTE_ACTION) - customer_routes) == []
    declared = {endpoint: getattr(app.view_functions[endpoint], "required_action", ANY_CLERK)
                for endpoint in customer_routes}
    assert declared == ROUTE_ACTION


def expected_role_status(role: Role, endpoint: str) -> str:
    action = ROUTE_ACTION[endpoint]
    return "allowed" if action == ANY_CLERK or action in EXPECTED_MATRIX[role] else "forbidden"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_exactly_the_routes_the_matrix_gives_it(app, client, make, login_as, tenants, role):  # noqa: F811
    login_as(make.user(tenants.a, role=role))
    for rule in routes(app, Access.CUSTOMER):
        for method in methods(rule):
            url = url_for_rule(app, rule, tenants.a_ids)
            status = send(client, method, url).status_code
            if expected_role_status(role, rule.endpoint) == "allowed":
                # A bare POST may be refused for its missing form (400) or the object's state (409).
                assert status not in (403, 404) and status < 500, f"{role}: {method} {url} -> {status}"
            else:
                assert status == 403, f"{role}: {method} {url} -> {status}"


@pytest.mark.parametrize("role", list(Role))
def test_no_role_reaches_another_companys_objects(app, client, make, login_as, tenants, role):  # noqa: F811
    login_as(make.user(tenants.a, role=role))
    for rule in routes(app, Access.CUSTOMER):
        if not set(rule.arguments) & set(OWN_OBJECTS):
            continue
        for method in methods(rule):
            url = url_for_rule(app, rule, tenants.b_ids)
            response = send(client, method, url)
            expected = 404 if expected_role_status(role, rule.endpoint) == "allowed" else 403
            assert response.status_code == expected, f"{role}: {method} {url} -> {response.status_code}"
            assert "Bravo Secret" not in response.get_data(as_text=True)
