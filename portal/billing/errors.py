class BillingError(Exception):
    """Base of the billing domain's errors; the message is safe to show to a user."""


class InvoiceNotFound(BillingError):
    """No such invoice for this company (never says whether it exists for another)."""


class InvalidAmount(BillingError, ValueError):
    """Text that is not an amount of money in the given currency."""


class InvalidInvoice(BillingError, ValueError):
    """An invoice that cannot be written as given; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class OverSettlement(BillingError):
    """More paid and credited on an invoice than its total."""


class InvoiceConflict(BillingError):
    """A change the invoice's state forbids (amounts of a paid invoice, a void invoice...).

    `code` is stable and machine-readable, for API clients.
    """

    def __init__(self, message: str, code: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.field = field


class UnknownCompany(BillingError):
    """No customer company has this external reference."""

    field = "company_ref"
