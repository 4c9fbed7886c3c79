"""The language and formats an e-mail is written in."""

from types import SimpleNamespace

import pytest

from portal.mail import compose


def reset_email(locale: str) -> compose.ComposedEmail:
    user = SimpleNamespace(email="clerk@customer.test", full_name="Clerk")
    return compose.render("password_reset", locale, reset_url="http://portal.test/reset/x", user=user,
                          supplier_name="Supplier")


@pytest.mark.parametrize("locale", ["en", "en_GB"])
def test_english_with_a_region_is_english(locale):
    # A page in British formats hands its locale ("en_GB") to the e-mails it causes (autopay's confirmation).
    assert reset_email(locale).subject == reset_email("en").subject != reset_email("fr").subject


@pytest.mark.parametrize("locale", ["de", "de_DE", "not a locale"])
def test_a_language_the_portal_does_not_speak_falls_back_to_french(locale):
    assert reset_email(locale).subject == reset_email("fr").subject


def test_a_company_in_great_britain_is_written_to_in_british_formats():
    british = SimpleNamespace(locale="en", region="GB")
    assert compose.company_locale(british) == "en_GB"
    assert compose.company_locale(SimpleNamespace(locale="fr", region="BE"), "fr") == "fr_BE"
    assert compose.company_locale(SimpleNamespace(locale="fr", region=None)) == "fr"
