"""Rendering e-mails in the recipient's locale, outside any request.

An e-mail is three templates under `portal/mail/templates/`: `NAME.subject.txt`,
`NAME.txt` and `NAME.html`. They are translated with the same catalogue as the pages.
"""

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from portal.billing.money import Money, to_decimal
from portal.formats import locale_with_region
from portal.payments.errors import FAILURE_REASONS, REFUSAL_REASONS

TEMPLATES = Path(__file__).parent / "templates"
TRANSLATIONS = Path(__file__).parent.parent / "translations"
SUPPORTED_LOCALES = ("fr", "en")


@dataclass(frozen=True)
class ComposedEmail:
    subject: str
    text: str
    html: str | None


def company_locale(company, language: str | None = None) -> str:
    """What an e-mail to `company` is written in: `language` (else the company's) in the formats of
    the company's region, as its pages are ("en" for a company in GB: 15 November 2026, £1,234.56)."""
    return locale_with_region(language or company.locale, company.region)


def render(name: str, locale: str, **context) -> ComposedEmail:
    """The e-mail `name` rendered in `locale` (falling back to French) with `context`."""
    environment = _environment(_supported(locale))
    subject = environment.get_template(f"{name}.subject.txt").render(**context)
    text = environment.get_template(f"{name}.txt").render(**context)
    html_path = TEMPLATES / f"{name}.html"
    html = environment.get_template(f"{name}.html").render(**context) if html_path.exists() else None
    # One line; a no-break space (in "600,00 €", before a French colon) stays.
    return ComposedEmail(subject=re.sub(r"[ \t\r\n]+", " ", subject).strip(), text=text, html=html)


def render_text(name: str, locale: str, **context) -> str:
    """The text template `NAME.txt` rendered in `locale` (falling back to French): a document, not an e-mail."""
    environment = _environment(_supported(locale))
    return environment.get_template(f"{name}.txt").render(**context).strip()


def _supported(locale: str) -> str:
    """`locale` if its language is one the portal speaks ("en_GB" is English in British formats), else French."""
    try:
        language = Locale.parse(locale).language
    except ValueError:
        return SUPPORTED_LOCALES[0]
    return locale if language in SUPPORTED_LOCALES else SUPPORTED_LOCALES[0]


@cache
def _environment(locale: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    translations = Translations.load(str(TRANSLATIONS), [locale])
    environment.install_gettext_translations(translations, newstyle=True)

    def write_money(amount: int, currency: str) -> str:
        return format_currency(to_decimal(amount, currency), currency, locale=locale)

    environment.filters["money"] = write_money
    environment.filters["long_date"] = lambda value: format_date(value, format="long", locale=locale)
    # Why a payment failed or was refused, in the words the pages use (never the card processor's English).
    environment.filters["failure_reason"] = lambda code: _reason(translations, write_money, code, {})
    environment.filters["refusal_reason"] = lambda code, params: _reason(translations, write_money, code, params)
    environment.globals["today"] = date.today
    return environment


def _reason(translations: Translations, write_money, code: str | None, params: dict) -> str:
    """Why a payment failed or was refused before it was charged (portal/errors.py's words for `code`)."""
    text = REFUSAL_REASONS.get(code or "") or FAILURE_REASONS.get(code or "", FAILURE_REASONS["payment_error"])
    written = {name: write_money(value.amount, value.currency) if isinstance(value, Money) else value
               for name, value in params.items()}
    return translations.gettext(text) % written if written else translations.gettext(text)
