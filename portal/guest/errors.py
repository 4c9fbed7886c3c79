from portal.domain_errors import DomainError


class PayLinkError(DomainError):
    """A PAY NOW link that cannot be used; `code` says why (see portal/domain_errors.py)."""

    code = "invalid_pay_link"


class InvalidPayLink(PayLinkError):
    """Tampered with, truncated, or never issued by us."""


class ExpiredPayLink(PayLinkError):
    """Past its expiry date."""

    code = "expired_pay_link"


class RevokedPayLink(PayLinkError):
    """The supplier revoked the links of this invoice (a newer one may have been sent)."""

    code = "revoked_pay_link"


class PayLinkLocked(PayLinkError):
    """Too many declined cards or too many attempts: the link rests for a while."""

    code = "pay_link_resting"
