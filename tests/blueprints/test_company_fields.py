"""The company's own fields: admins define them, clerks fill them on invoices, and the invoice list
searches and filters by them and the company's CSV export carries them."""

import csv
import io

import pytest
from sqlalchemy import select

from portal.billing.company_fields import FieldError, define_field, fill_invoice_fields, invoice_field_values
from portal.models import AuditEvent, CompanyField, Role
from tests.blueprints.pages import listed_invoice_numbers, visible_text
from tests.builders import Builders

ACTOR = Builders.ACTOR

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def acme(make):
    return make.company(name="Acme SAS", locale="en")


@pytest.fixture
def fields(db, acme):
    centre = define_field(db, ACTOR, acme.id, label="Cost centre", kind="choice", choices=["Marketing", "R&D Lyon"])
    approver = define_field(db, ACTOR, acme.id, label="Approver", kind="text")
    return centre, approver


@pytest.fixture
def invoices(make, acme):
    return [make.invoice(acme, number=f"INV-F-{n}") for n in (1, 2, 3)]


def signed_in(db, login_as, make, acme, role: Role):
    user = make.user(acme, role=role)
    db.commit()
    return login_as(user)


# --- Defining fields -------------------------------------------------------------------------


def test_an_admin_defines_a_list_field_and_a_text_field(db, login_as, make, acme):
    client = signed_in(db, login_as, make, acme, Role.ADMIN)

    assert client.post("/account/fields", data={"label": " Cost  centre ", "kind": "choice",
                                                "choices": "Marketing\n\nR&D Lyon\nMarketing\n"}).status_code == 303
    assert client.post("/account/fields", data={"label": "GL account", "kind": "text"}).status_code == 303

    defined = db.scalars(select(CompanyField).where(CompanyField.company_id == acme.id).order_by(CompanyField.id))
    assert [(f.label, f.kind, f.choices) for f in defined] == [
        ("Cost centre", "choice", ["Marketing", "R&D Lyon"]), ("GL account", "text", [])]
    page = visible_text(client.get("/account/fields"))
    assert "Cost centre" in page and "GL account" in page


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"label": "cost CENTRE", "kind": "text"}, 409, "Another field already has this name."),
    ({"label": "Division", "kind": "choice", "choices": "\n \n"}, 409, "A list needs at least one value"),
    ({"label": "", "kind": "text"}, 400, None),
    ({"label": "Division", "kind": "number"}, 400, None),
])
def test_a_bad_field_is_refused_clearly_and_nothing_is_added(db, login_as, make, acme, fields, data, status, message):
    client = signed_in(db, login_as, make, acme, Role.ADMIN)

    response = client.post("/account/fields", data=data)

    assert response.status_code == status
    if message:
        assert message in visible_text(response)
    assert len(db.scalars(select(CompanyField).where(CompanyField.company_id == acme.id)).all()) == 2


def test_renaming_a_field_keeps_what_was_filled_in_and_removing_it_removes_that_too(db, login_as, make, acme,
                                                                                     fields, invoices):
    centre, approver = fields
    fill_invoice_fields(db, ACTOR, invoices[0], {centre.id: "Marketing", approver.id: "Jo"})
    client = signed_in(db, login_as, make, acme, Role.ADMIN)

    response = client.post(f"/account/fields/{centre.id}", data={
        f"field-{centre.id}-label": "Division", f"field-{centre.id}-choices": "Marketing\nSales"})

    assert response.status_code == 303
    db.expire_all()
    assert (centre.label, centre.choices) == ("Division", ["Marketing", "Sales"])
    assert invoice_field_values(db, invoices[0]) == {centre.id: "Marketing", approver.id: "Jo"}

    assert client.post(f"/account/fields/{centre.id}/remove").status_code == 303
    assert invoice_field_values(db, invoices[0]) == {approver.id: "Jo"}


# --- Filling them in -------------------------------------------------------------------------


def test_a_payer_fills_the_fields_on_an_invoice_and_it_is_audited(db, login_as, make, acme, fields, invoices):
    centre, approver = fields
    client = signed_in(db, login_as, make, acme, Role.PAYER)

    response = client.post(f"/invoices/{invoices[0].id}/fields",
                           data={f"field-{centre.id}": "R&D Lyon", f"field-{approver.id}": "  Jo   Martin "})

    assert response.status_code == 303
    assert invoice_field_values(db, invoices[0]) == {centre.id: "R&D Lyon", approver.id: "Jo Martin"}
    page = client.get(f"/invoices/{invoices[0].id}")
    assert "Your fields are saved." in visible_text(page)
    assert 'value="Jo Martin"' in page.get_data(as_text=True)
    assert db.scalar(select(AuditEvent.details).where(AuditEvent.action == "invoice.fields_filled")) == {
        "values": {"Cost centre": "R&D Lyon", "Approver": "Jo Martin"}}

    client.post(f"/invoices/{invoices[0].id}/fields", data={f"field-{centre.id}": "", f"field-{approver.id}": "Jo Martin"})
    assert invoice_field_values(db, invoices[0]) == {approver.id: "Jo Martin"}


def test_a_value_not_in_the_list_is_refused_and_nothing_is_written(db, login_as, make, acme, fields, invoices):
    centre, approver = fields
    client = signed_in(db, login_as, make, acme, Role.PAYER)

    response = client.post(f"/invoices/{invoices[0].id}/fields",
                           data={f"field-{centre.id}": "Sales", f"field-{approver.id}": "Jo"}, follow_redirects=True)

    assert "Cost centre: choose one of the values in the list." in visible_text(response)
    assert invoice_field_values(db, invoices[0]) == {}


def test_a_viewer_sees_the_values_but_cannot_fill_them(db, login_as, make, acme, fields, invoices):
    centre, _ = fields
    fill_invoice_fields(db, ACTOR, invoices[0], {centre.id: "Marketing"})
    client = signed_in(db, login_as, make, acme, Role.VIEWER)

    page = client.get(f"/invoices/{invoices[0].id}")
    assert "Marketing" in visible_text(page) and f'name="field-{centre.id}"' not in page.get_data(as_text=True)
    assert client.post(f"/invoices/{invoices[0].id}/fields", data={f"field-{centre.id}": "R&D Lyon"}).status_code == 403
    assert invoice_field_values(db, invoices[0]) == {centre.id: "Marketing"}


def test_another_companys_field_cannot_be_filled_on_an_invoice(db, make, acme, fields, invoices):
    other = define_field(db, ACTOR, make.company().id, label="Theirs", kind="text")
    with pytest.raises(FieldError) as refused:
        fill_invoice_fields(db, ACTOR, invoices[0], {other.id: "x"})
    assert refused.value.code == "unknown_field"


# --- The invoice list and the export ---------------------------------------------------------


def test_the_list_filters_and_searches_by_the_companys_fields(db, login_as, make, acme, fields, invoices):
    centre, approver = fields
    fill_invoice_fields(db, ACTOR, invoices[0], {centre.id: "Marketing", approver.id: "Jo Martin"})
    fill_invoice_fields(db, ACTOR, invoices[1], {centre.id: "R&D Lyon", approver.id: "Ann"})
    other = make.company()
    other_field = define_field(db, ACTOR, other.id, label="Cost centre", kind="text")
    fill_invoice_fields(db, ACTOR, make.invoice(other, number="INV-OTHER"), {other_field.id: "Marketing"})
    client = signed_in(db, login_as, make, acme, Role.VIEWER)

    def listed(**params):
        response = client.get("/invoices", query_string=params)
        assert response.status_code == 200
        return sorted(listed_invoice_numbers(response))

    assert listed(**{f"field-{centre.id}": "Marketing"}) == ["INV-F-1"]
    assert listed(**{f"field-{centre.id}": "R&D Lyon", f"field-{approver.id}": "Jo Martin"}) == []
    assert listed(**{f"field-{approver.id}": "Ann"}) == ["INV-F-2"]
    assert listed(q="martin") == ["INV-F-1"]
    assert listed(q="marketing") == ["INV-F-1"]
    assert listed(**{f"field-{other_field.id}": "Marketing"}) == ["INV-F-1", "INV-F-2", "INV-F-3"]
    assert listed(**{f"field-{centre.id}": "x" * 900}) == []
    page = client.get("/invoices", query_string={f"field-{centre.id}": "Marketing"}).get_data(as_text=True)
    assert '<option selected>Marketing</option>' in page


def test_the_companys_export_has_a_column_per_field(db, login_as, make, acme, fields, invoices):
    centre, approver = fields
    fill_invoice_fields(db, ACTOR, invoices[1], {centre.id: "R&D Lyon"})
    client = signed_in(db, login_as, make, acme, Role.VIEWER)

    response = client.get("/invoices/export.csv?sort=number&direction=asc")  # the list sorted by number

    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(row["invoice_number"], row["Cost centre"], row["Approver"]) for row in rows] == [
        ("INV-F-1", "", ""), ("INV-F-2", "R&D Lyon", ""), ("INV-F-3", "", "")]
