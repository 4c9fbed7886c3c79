"""What the payment services need besides the database."""

from dataclasses import dataclass
from datetime import timedelta

from portal.payments.gateway import PaymentGateway


@dataclass(frozen=True)
class PaymentContext:
    """The provider, how to write receipts, and how long an unfinished payment may hold its invoices."""

    gateway: PaymentGateway
    supplier_name: str
    base_url: str
    # A charge waiting for 3-D Secure this long is abandoned: cancelled at the provider, its invoices freed.
    abandon_after: timedelta = timedelta(minutes=15)
    # A payment the provider has no record of this long after it began never reached it.
    lost_after: timedelta = timedelta(minutes=10)
