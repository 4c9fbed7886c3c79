"""The supplier's legal identity: who issues the invoices, as French law and EN 16931 want it printed.

It comes from configuration (the `ACQUIT_SUPPLIER_*` settings, see README "Configuration") and is
checked once, when the app starts: an invoice without the seller's address, SIREN, VAT number or
late-payment penalty rate is not one a buyer may book, so a portal missing one of them does not
start at all, and says which setting to give.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stdnum import bic as bic_number
from stdnum import iban as iban_number
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as siren_number
from stdnum.fr import siret as siret_number

from portal.config_errors import ConfigurationError

# Setting name -> what it is, for the start-up error. These must be given.
REQUIRED = {
    "ACQUIT_SUPPLIER_NAME": "the supplier's registered name",
    "ACQUIT_SUPPLIER_ADDRESS": "the street address of its registered office",
    "ACQUIT_SUPPLIER_POSTCODE": "the postcode of its registered office",
    "ACQUIT_SUPPLIER_CITY": "the city of its registered office",
    "ACQUIT_SUPPLIER_VAT_NUMBER": "its intra-EU VAT number, e.g. FR44732829320",
    "ACQUIT_SUPPLIER_LATE_PENALTY_RATE": "the yearly late-payment penalty rate in percent, e.g. 12.00",
}
# Required only of a supplier registered in France (the default country).
REQUIRED_IN_FRANCE = {"ACQUIT_SUPPLIER_SIREN": "its 9-digit SIREN number"}


class SupplierConfigError(ConfigurationError):
    """The supplier's identity is missing or wrong in configuration; the message names the settings."""


@dataclass(frozen=True)
class SupplierIdentity:
    name: str
    address: str
    postcode: str
    city: str
    country: str
    vat_number: str
    late_penalty_rate: Decimal
    siren: str | None = None
    siret: str | None = None
    legal_form: str | None = None
    share_capital: str | None = None
    registry: str | None = None
    iban: str | None = None
    bic: str | None = None
    bank_name: str | None = None
    payment_terms: str | None = None
    early_payment_discount: str | None = None
    email: str | None = None

    @property
    def registration_id(self) -> str | None:
        """The seller's legal registration identifier (BT-30): the SIRET when given, else the SIREN."""
        return self.siret or self.siren


def supplier_identity(config: Mapping) -> SupplierIdentity:
    """The supplier's identity from the `ACQUIT_SUPPLIER_*` settings, or `SupplierConfigError` listing every problem."""

    def value(name: str) -> str | None:
        raw = config.get(name)
        return str(raw).strip() if raw not in (None, "") and str(raw).strip() else None

    country = (value("ACQUIT_SUPPLIER_COUNTRY") or "FR").upper()
    required = {**REQUIRED, **(REQUIRED_IN_FRANCE if country == "FR" else {})}
    problems = [f"{name} is not set ({meaning})" for name, meaning in required.items() if value(name) is None]

    if len(country) != 2 or not country.isalpha():
        problems.append(f"ACQUIT_SUPPLIER_COUNTRY {country!r} is not an ISO 3166 two-letter country code such as FR")
    vat_number = value("ACQUIT_SUPPLIER_VAT_NUMBER")
    if vat_number is not None:
        vat_number = "".join(vat_number.split()).upper()
        if not eu_vat.is_valid(vat_number):
            problems.append(f"ACQUIT_SUPPLIER_VAT_NUMBER {vat_number!r} is not a valid EU VAT number")
    siren = value("ACQUIT_SUPPLIER_SIREN")
    if siren is not None:
        siren = siren_number.compact(siren)
        if not siren_number.is_valid(siren):
            problems.append(f"ACQUIT_SUPPLIER_SIREN {siren!r} is not a valid SIREN (9 digits with a check digit)")
    siret = value("ACQUIT_SUPPLIER_SIRET")
    if siret is not None:
        siret = siret_number.compact(siret)
        if not siret_number.is_valid(siret) or (siren and not siret.startswith(siren)):
            problems.append(f"ACQUIT_SUPPLIER_SIRET {siret!r} is not a valid SIRET of the SIREN given")
    iban = value("ACQUIT_SUPPLIER_IBAN")
    if iban is not None:
        iban = iban_number.compact(iban)
        if not iban_number.is_valid(iban):
            problems.append(f"ACQUIT_SUPPLIER_IBAN {iban!r} is not a valid IBAN")
    bic = value("ACQUIT_SUPPLIER_BIC")
    if bic is not None:
        bic = bic_number.compact(bic)
        if not bic_number.is_valid(bic):
            problems.append(f"ACQUIT_SUPPLIER_BIC {bic!r} is not a valid BIC")
        elif iban is None:
            problems.append("ACQUIT_SUPPLIER_BIC is set without ACQUIT_SUPPLIER_IBAN")
    rate = _percent(value("ACQUIT_SUPPLIER_LATE_PENALTY_RATE"))
    if value("ACQUIT_SUPPLIER_LATE_PENALTY_RATE") is not None and rate is None:
        problems.append("ACQUIT_SUPPLIER_LATE_PENALTY_RATE is not a percentage such as 12.00")

    if problems:
        raise SupplierConfigError(
            "The supplier's legal identity, printed on every invoice, is incomplete or wrong: "
            + "; ".join(problems) + ". See the Configuration section of README.md."
        )
    def given(name: str) -> str:
        text = value(name)
        assert text is not None, f"{name} is required: its absence was reported above"
        return text

    assert vat_number is not None and rate is not None, "both are required: their absence was reported above"
    return SupplierIdentity(
        name=given("ACQUIT_SUPPLIER_NAME"), address=given("ACQUIT_SUPPLIER_ADDRESS"),
        postcode=given("ACQUIT_SUPPLIER_POSTCODE"), city=given("ACQUIT_SUPPLIER_CITY"), country=country,
        vat_number=vat_number, late_penalty_rate=rate, siren=siren, siret=siret,
        legal_form=value("ACQUIT_SUPPLIER_LEGAL_FORM"), share_capital=value("ACQUIT_SUPPLIER_SHARE_CAPITAL"),
        registry=value("ACQUIT_SUPPLIER_REGISTRY"), iban=iban, bic=bic, bank_name=value("ACQUIT_SUPPLIER_BANK_NAME"),
        payment_terms=value("ACQUIT_SUPPLIER_PAYMENT_TERMS"),
        early_payment_discount=value("ACQUIT_SUPPLIER_EARLY_PAYMENT_DISCOUNT"), email=value("ACQUIT_SUPPLIER_EMAIL"),
    )


def _percent(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        rate = Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None
    return rate if rate.is_finite() and 0 <= rate <= 100 else None
