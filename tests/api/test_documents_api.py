"""The API's part in invoice documents: the buyer's billing identity, and the labels of custom fields."""

import io

from pypdf import PdfReader

from portal.models import Company


def test_a_company_carries_its_billing_address_vat_number_and_siren(erp, db):
    body = {"name": "Boulangeries Martin SAS", "billing_address": "3 place du Marché", "billing_postcode": "75011",
            "billing_city": "Paris", "billing_country": "FR", "vat_number": "fr40303265045", "siren": "303265045"}

    created = erp.put("/companies/BOUL-MARTIN", body)
    again = erp.put("/companies/BOUL-MARTIN", {**body, "vat_number": "FR40303265045"})

    assert created.status_code == 201
    assert created.json["billing_city"] == "Paris" and created.json["vat_number"] == "FR40303265045"
    assert again.json["outcome"] == "unchanged"
    company = db.query(Company).filter_by(external_ref="BOUL-MARTIN").one()
    assert (company.billing_address, company.billing_postcode, company.billing_country, company.siren) == (
        "3 place du Marché", "75011", "FR", "303265045")


def test_a_wrong_vat_number_or_siren_is_refused_naming_the_field(erp):
    bad_vat = erp.put("/companies/X1", {"name": "X", "vat_number": "FR00303265045"})
    bad_siren = erp.put("/companies/X1", {"name": "X", "siren": "303265046"})
    bad_country = erp.put("/companies/X1", {"name": "X", "billing_country": "France"})

    assert (bad_vat.status_code, bad_vat.json["error"]["field"]) == (422, "vat_number")
    assert (bad_siren.status_code, bad_siren.json["error"]["field"]) == (422, "siren")
    assert bad_country.status_code == 422


def test_the_supplier_names_a_custom_field_per_language_and_invoices_print_it(erp, client, make, login_as):
    labels = {"fr": "Centre de coût", "en": "Cost centre"}

    created = erp.put("/custom-fields/cost_centre", {"labels": labels})
    unchanged = erp.put("/custom-fields/cost_centre", {"labels": labels})
    listed = erp.get("/custom-fields")

    assert (created.status_code, created.json["outcome"]) == (201, "created")
    assert (unchanged.status_code, unchanged.json["outcome"]) == (200, "unchanged")
    assert listed.json["data"] == [{"key": "cost_centre", "labels": labels}]

    company = make.company(locale="fr")
    invoice = make.invoice(company, custom_fields={"cost_centre": "CC-12"})
    make.session.commit()
    pdf = login_as(make.user(company)).get(f"/invoices/{invoice.id}/pdf").data
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Centre de coût" in text and "cost_centre" not in text


def test_relabelling_drops_a_language_left_out(erp):
    erp.put("/custom-fields/site", {"labels": {"fr": "Site", "en": "Site"}})

    relabelled = erp.put("/custom-fields/site", {"labels": {"fr": "Établissement"}})

    assert relabelled.json["outcome"] == "updated"
    assert erp.get("/custom-fields").json["data"] == [{"key": "site", "labels": {"fr": "Établissement"}}]
