"""Building the reminder run's context from the app's configuration."""

from datetime import timedelta

from portal.guest.links import PayLinks
from portal.reminders.run import ReminderContext


def reminder_context(config) -> ReminderContext:
    links = PayLinks(config["SECRET_KEY"], config["ACQUIT_BASE_URL"],
                     valid_for=timedelta(days=config["ACQUIT_PAY_LINK_DAYS"]))
    return ReminderContext(links=links, supplier_name=config["ACQUIT_SUPPLIER_NAME"],
                           base_url=config["ACQUIT_BASE_URL"])
