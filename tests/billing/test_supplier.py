"""The supplier's legal identity comes from configuration; a portal missing a required item does not start."""

from decimal import Decimal

import pytest

from portal.app import create_app
from portal.billing.supplier import SupplierConfigError, supplier_identity
from portal.demo import DEMO_SUPPLIER
from tests.conftest import app_config


def test_the_demo_identity_is_complete():
    supplier = supplier_identity(DEMO_SUPPLIER)

    assert supplier.vat_number == "FR44732829320"
    assert supplier.registration_id == "73282932000074"
    assert supplier.late_penalty_rate == Decimal("12.00")


def test_a_portal_without_the_suppliers_vat_number_fails_at_start_up_naming_the_setting(database_url):
    with pytest.raises(SupplierConfigError) as refused:
        create_app(app_config(database_url, ACQUIT_SUPPLIER_VAT_NUMBER=None))

    assert "ACQUIT_SUPPLIER_VAT_NUMBER is not set" in str(refused.value)
    assert "README" in str(refused.value)


def test_every_missing_item_is_named_at_once():
    with pytest.raises(SupplierConfigError) as refused:
        supplier_identity({"ACQUIT_SUPPLIER_NAME": "Fournitures Durand"})

    for name in ("ACQUIT_SUPPLIER_ADDRESS", "ACQUIT_SUPPLIER_POSTCODE", "ACQUIT_SUPPLIER_CITY",
                 "ACQUIT_SUPPLIER_VAT_NUMBER", "ACQUIT_SUPPLIER_SIREN", "ACQUIT_SUPPLIER_LATE_PENALTY_RATE"):
        assert name in str(refused.value)


@pytest.mark.parametrize("setting, value, complaint", [
    ("ACQUIT_SUPPLIER_VAT_NUMBER", "FR00732829320", "not a valid EU VAT number"),
    ("ACQUIT_SUPPLIER_VAT_NUMBER", "CHE-123.456.788", "not a valid EU VAT number"),
    ("ACQUIT_SUPPLIER_SIREN", "732829321", "not a valid SIREN"),
    ("ACQUIT_SUPPLIER_SIRET", "30326504500003", "not a valid SIRET of the SIREN given"),
    ("ACQUIT_SUPPLIER_IBAN", "FR7630006000011234567890180", "not a valid IBAN"),
    ("ACQUIT_SUPPLIER_LATE_PENALTY_RATE", "twelve", "not a percentage"),
    ("ACQUIT_SUPPLIER_COUNTRY", "France", "not an ISO 3166 two-letter country code"),
])
def test_a_wrong_item_is_refused_with_what_is_wrong(setting, value, complaint):
    with pytest.raises(SupplierConfigError, match=complaint):
        supplier_identity({**DEMO_SUPPLIER, setting: value})


def test_a_bic_without_an_iban_is_refused():
    with pytest.raises(SupplierConfigError, match="ACQUIT_SUPPLIER_BIC is set without ACQUIT_SUPPLIER_IBAN"):
        supplier_identity({**DEMO_SUPPLIER, "ACQUIT_SUPPLIER_IBAN": None})


def test_a_supplier_outside_france_needs_no_siren():
    foreign = {name: value for name, value in DEMO_SUPPLIER.items() if name not in (
        "ACQUIT_SUPPLIER_SIREN", "ACQUIT_SUPPLIER_SIRET")}

    supplier = supplier_identity({**foreign, "ACQUIT_SUPPLIER_COUNTRY": "de", "ACQUIT_SUPPLIER_VAT_NUMBER": "DE136695976"})

    assert supplier.country == "DE" and supplier.siren is None and supplier.registration_id is None
