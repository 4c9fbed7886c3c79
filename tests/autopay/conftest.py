"""Fixtures for the autopay tests.

- `dispute_context`: the dispute services' settings, to raise a dispute with `make.dispute`.
- The localstripe rig of tests/payments (`localstripe`, `stripe_server`, `stripe_settings`,
  `payments`, `stripe_api`, `save_card`), the same definitions, for the tests that charge
  through a real fake Stripe (see tests/payments/conftest.py for what each one is).
- `enrol_as_clerk(...)`: enrol a company as its clerk does, accepting the mandate word for word.
- The `slow` marker: a test that takes more than about 30 seconds. Every run of the suite
  (scripts/test, scripts/test-postgres, CI) runs them; `-m "not slow"` leaves them out.
"""

from datetime import date

import pytest
from sqlalchemy.orm import Session

from portal.autopay.enrolment import EnrolmentTerms, MandateContext, enrol, mandate_text
from portal.autopay.settings import AutopaySettings
from portal.blueprints.app_services import services
from portal.models import AutopayEnrolment, Company, SavedCard, User
from tests.payments.conftest import (  # noqa: F401 (fixtures, shared with tests/payments)
    localstripe,
    payments,
    save_card,
    stripe_api,
    stripe_server,
    stripe_settings,
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about 30 seconds (deselect with -m 'not slow')")


@pytest.fixture
def dispute_context(app):
    """The dispute services' settings, read from the test app's config as a request would."""
    with app.app_context():
        return services().disputes


def enrol_as_clerk(session: Session, user: User, company: Company, card: SavedCard, *, today: date,
                   days_before_due: int = 0, supplier_name: str = "Fournitures Durand",
                   settings: AutopaySettings = AutopaySettings()) -> AutopayEnrolment:
    """Enrol `company` on `card` as `user` does on the page on `today`: the mandate shown is the text accepted; committed."""
    terms = EnrolmentTerms(card_id=card.id, days_before_due=days_before_due)
    mandate = MandateContext(supplier_name=supplier_name, locale=user.locale or company.locale, settings=settings,
                             today=today)
    enrolment = enrol(session, user, company=company, terms=terms,
                      accepted_text=mandate_text(session, company, terms, mandate), ip_address="192.0.2.10",
                      context=mandate)
    session.commit()
    return enrolment
