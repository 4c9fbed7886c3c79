"""Today's date where the supplier works: due dates fall on the supplier's calendar."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

SUPPLIER_TIMEZONE = ZoneInfo("Europe/Paris")


def today() -> date:
    return datetime.now(SUPPLIER_TIMEZONE).date()
