"""Fixtures for the disputes tests: a customer with an admin, a payer and a viewer, staff, the dispute context."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from portal.blueprints.app_services import services
from portal.models import Role


@pytest.fixture
def context(app):
    """The dispute services' settings, read from the test app's config as a request would."""
    with app.app_context():
        return services().disputes


@pytest.fixture
def customer(make):
    company = make.company(name="Alpha Widgets SAS", ref="CUST-ALPHA", locale="en",
                           billing_emails=["ap@alpha.test", "controller@alpha.test"])
    return SimpleNamespace(
        company=company,
        admin=make.user(company, role=Role.ADMIN, email="admin@alpha.test"),
        payer=make.user(company, role=Role.PAYER, email="payer@alpha.test"),
        viewer=make.user(company, role=Role.VIEWER, email="viewer@alpha.test"),
    )


@pytest.fixture
def staff(make):
    return make.staff(email="collections@supplier.test", locale="en")


def stored_files(app) -> list:
    """Every file under the attachment folder."""
    folder = Path(app.config["ACQUIT_ATTACHMENT_DIR"])
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []
