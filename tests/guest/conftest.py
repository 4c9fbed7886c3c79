import re
from datetime import timedelta

import pytest

from portal.guest.links import PayLinks
from portal.services import services_of
from tests.conftest import TEST_SECRET_KEY


@pytest.fixture
def pay_links() -> PayLinks:
    """Links as the test app signs them."""
    return PayLinks(TEST_SECRET_KEY, "http://portal.test", valid_for=timedelta(days=30))


@pytest.fixture
def gateway(app):
    return services_of(app).payments.gateway


def setup_id_on(page: str) -> str:
    return re.search(r'name="setup_id" type="hidden" value="([^"]+)"', page).group(1)


def attempt_key_on(page: str) -> str:
    return re.search(r'name="attempt_key" type="hidden" value="([0-9a-f]{32})"', page).group(1)


def csrf_on(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    return match.group(1) if match else ""
