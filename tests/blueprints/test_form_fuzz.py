"""Every HTML form, fed hostile text in each field, answers below 500.

The test signs in as a customer admin and as staff, opens every page it can reach, reads each
form on it (its action, method and fields, as a browser would) and submits it again and again
with hypothesis choosing, field by field, the page's own value or a hostile one: a NUL
character, a very long string, mixed scripts with right-to-left and combining marks, numbers
past any column's range. On SQLite and on PostgreSQL (scripts/test-postgres), where NUL and
overflowing integers are database errors.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.blueprints.app_services import services
from portal.models import Role
from tests.blueprints.pages import Element, page
from tests.blueprints.test_tenancy import ROUTE_ACCESS, Access, saved_card
from tests.builders import PDF_BYTES

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("english")]

HOSTILE_TEXT = st.one_of(
    st.just("\x00"),
    st.text(min_size=1, max_size=20).map(lambda text: text + "\x00" + text),
    st.just("x" * 100_000),
    st.just("9" * 400),
    st.just("-9223372036854775809"),
    st.just("1e309"),
    st.just("NaN"),
    st.sampled_from(["Ünïcödé Привет مرحبا 你好 🙂", "\u202eevil\u202c", "e\u0301\u0301\u0301", "\ufeff",
                     "\ud7ff\ue000\U0010fffd", "=HYPERLINK(\"http://x\")", "<script>alert(1)</script>",
                     "../../etc/passwd", "%00", "\r\nBcc: x@evil.test"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
)


@dataclass(frozen=True)
class Form:
    page: str
    action: str
    method: str
    fields: dict[str, str]

    @property
    def label(self) -> str:
        return f"{self.method} {self.action} (from {self.page})"


def forms_on(url: str, document: Element) -> list[Form]:
    found = []
    for form in document.find_all("form"):
        method = form.attrs.get("method", "get").upper()
        action = form.attrs.get("action") or url
        fields: dict[str, str] = {}
        for element in form.find_all():
            name = element.attrs.get("name")
            if not name or element.tag not in ("input", "select", "textarea") or element.attrs.get("type") == "file":
                continue
            if element.tag == "select":
                options = element.find_all("option")
                chosen = next((option for option in options if "selected" in option.attrs), options[0] if options else None)
                fields[name] = chosen.attrs.get("value", chosen.text) if chosen is not None else ""
            elif element.attrs.get("type") in ("checkbox", "radio"):
                if "checked" in element.attrs or name not in fields:
                    fields[name] = element.attrs.get("value", "on")
            else:
                fields[name] = element.attrs.get("value", element.text if element.tag == "textarea" else "")
        found.append(Form(page=url, action=action, method=method, fields=fields))
    return found


def reachable_pages(app, ids: dict, token: str, access: set[Access]) -> list[str]:
    """The GET pages of routes with `access`, each URL argument filled from `ids` or `token`."""
    urls = []
    adapter = app.url_map.bind("portal.test")
    for rule in app.url_map.iter_rules():
        if ROUTE_ACCESS.get(rule.endpoint) not in access or "GET" not in rule.methods:
            continue
        values = {argument: (token if argument == "token" else ids.get(argument)) for argument in rule.arguments}
        if None in values.values():
            continue
        urls.append(adapter.build(rule.endpoint, values))
    return sorted(set(urls))


@pytest.fixture
def world(app, make, db):
    company = make.company(name="Fuzz Widgets SAS", ref="CUST-FUZZ", locale="en")
    admin = make.user(company, role=Role.ADMIN, email="admin@fuzz.test")
    invoices = [make.invoice(company, number=f"INV-FUZZ-{n}", total=10_000 * n, po_number=f"PO-{n}") for n in (1, 2, 3)]
    payment = make.payment(invoices[2], 1_000)
    card = saved_card(app, make, company, admin)
    with app.app_context():
        context = services().disputes
    dispute = make.dispute(context, invoices[1], admin, files=(("note.pdf", PDF_BYTES),))
    staff = make.staff(email="staff@fuzz.test", locale="en")
    db.commit()
    with app.app_context():
        token = services().pay_links.link_for(invoices[0]).token
    ids = {"invoice_id": invoices[0].id, "payment_id": payment.id, "card_id": card.id, "dispute_id": dispute.id,
           "attachment_id": dispute.messages[0].attachments[0].id}
    return admin, staff, ids, token


def collect_forms(client, urls: list[str]) -> list[Form]:
    forms = {}
    for url in urls:
        with client.get(url) as response:  # closed: a CSV export streams from its request context
            assert response.status_code < 500, (url, response.status_code)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            document = page(response)
        for form in forms_on(url, document):
            if urlsplit(form.action).path in ("/logout",):
                continue  # signing out would end the walk, not test anything
            forms.setdefault((form.method, form.action, tuple(sorted(form.fields))), form)
    return list(forms.values())


def fuzz(client, forms: list[Form]) -> list[str]:
    failures = []
    for form in forms:
        names = sorted(form.fields)

        @given(values=st.fixed_dictionaries({name: st.one_of(st.just(form.fields[name]), HOSTILE_TEXT)
                                             for name in names}))
        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                         HealthCheck.data_too_large, HealthCheck.large_base_example])
        def answers_below_500(values):
            if form.method == "POST":
                response = client.post(form.action, data=values)
            else:
                response = client.get(form.action, query_string=values)
            response.close()
            assert response.status_code < 500, f"{form.label} with {values!r:.300} -> {response.status_code}"

        try:
            answers_below_500()
        except AssertionError as failure:
            failures.append(str(failure))
    return failures


def test_every_customer_and_pay_link_form_answers_hostile_text_below_500(app, client, world, login_as):
    admin, _staff, ids, token = world
    login_as(admin)
    forms = collect_forms(client, reachable_pages(app, ids, token, {Access.PUBLIC, Access.CUSTOMER,
                                                                     Access.PAY_LINK}))

    assert len(forms) >= 10, [form.label for form in forms]  # the walk did find the forms
    failures = fuzz(client, forms)

    assert not failures, "\n\n".join(failures)


def test_every_staff_form_answers_hostile_text_below_500(app, client, world, login_as):
    _admin, staff, ids, token = world
    login_as(staff)
    forms = collect_forms(client, reachable_pages(app, ids, token, {Access.STAFF}))

    assert len(forms) >= 5, [form.label for form in forms]
    failures = fuzz(client, forms)

    assert not failures, "\n\n".join(failures)


def test_the_signed_out_forms_answer_hostile_text_below_500(app, client, world):
    _admin, _staff, ids, token = world
    forms = collect_forms(client, ["/login", "/forgot-password", f"/pay/{token}"])

    assert {urlsplit(form.action).path for form in forms} >= {"/login", "/forgot-password", f"/pay/{token}"}
    failures = fuzz(client, forms)

    assert not failures, "\n\n".join(failures)
