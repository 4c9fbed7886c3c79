class PayLinkError(Exception):
    """A PAY NOW link that cannot be used; the message is safe to show to anyone holding it."""


class InvalidPayLink(PayLinkError):
    """Tampered with, truncated, or never issued by us."""


class ExpiredPayLink(PayLinkError):
    """Past its expiry date."""


class RevokedPayLink(PayLinkError):
    """The supplier revoked the links of this invoice (a newer one may have been sent)."""


class PayLinkLocked(PayLinkError):
    """Too many declined cards or too many attempts: the link rests for a while."""
