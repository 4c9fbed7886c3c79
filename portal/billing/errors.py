from portal.domain_errors import DomainError


class BillingError(DomainError):
    """Base of the billing domain's errors; `code` says why (see portal/domain_errors.py)."""

    code = "billing_error"


class InvoiceNotFound(BillingError):
    """No such invoice for this company (never says whether it exists for another)."""

    code = "not_found"


class InvalidAmount(BillingError, ValueError):
    """Text that is not an amount of money in the given currency."""

    code = "invalid_amount"


class InvalidInvoice(BillingError, ValueError):
    """An invoice that cannot be written as given; `field` names the culprit."""

    code = "invalid_invoice"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message, field=field)


class OverSettlement(BillingError):
    """More paid and credited on an invoice than its total."""

    code = "over_settlement"


class InvoiceConflict(BillingError):
    """A change the invoice's state forbids (amounts of a paid invoice, a void invoice...).

    `code` is stable and machine-readable, for API clients.
    """

    def __init__(self, message: str, code: str, field: str | None = None):
        super().__init__(message, code=code, field=field)


class UnknownCompany(BillingError):
    """No customer company has this external reference."""

    code = "unknown_company"

    def __init__(self, message: str = ""):
        super().__init__(message, field="company_ref")
