from portal.domain_errors import DomainError


class ApprovalError(DomainError):
    """An approval action refused; `code` says why (see portal/domain_errors.py)."""

    def __init__(self, message: str, code: str):
        super().__init__(message, code=code)
