"""Fixtures for the reminder and statement tests: a real SMTP server, and a run that delivers what it wrote."""

from datetime import date, timedelta

import pytest

from portal.guest.links import PayLinks
from portal.mail import outbox
from portal.reminders.run import ReminderContext, run_reminders
from portal.services import services_of
from tests.conftest import TEST_SECRET_KEY


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about 30 seconds (deselect with -m 'not slow')")


@pytest.fixture
def app_overrides(smtp_server):
    return smtp_server.app_config


@pytest.fixture
def reminder_context():
    return ReminderContext(links=PayLinks(TEST_SECRET_KEY, "http://portal.test"), supplier_name="Supplier",
                           base_url="http://portal.test")


@pytest.fixture
def remind(app, db, reminder_context, smtp_server):
    """`remind(day)` runs the reminders as of `day` and delivers what they wrote to the SMTP server; returns
    the e-mails it received from that run."""

    def run(as_of: date):
        before = len(smtp_server.messages)
        report = run_reminders(db, reminder_context, as_of=as_of)
        outbox.deliver(db, services_of(app).smtp)
        db.commit()
        assert report.errors == 0
        return smtp_server.messages[before:]

    return run


def days(start: date, end: date):
    while start <= end:
        yield start
        start += timedelta(days=1)
