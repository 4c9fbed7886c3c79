from portal.domain_errors import DomainError


class AutopayError(DomainError):
    """An autopay request refused; `code` says why (see portal/domain_errors.py)."""

    code = "autopay_error"


class AutopayNotAllowed(AutopayError):
    code = "autopay_not_allowed"
