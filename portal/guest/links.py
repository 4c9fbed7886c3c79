"""Signed PAY NOW links: they name one invoice and an expiry, and can pay only that invoice.

The token is the invoice id, the invoice's `pay_link_version` and an expiry, signed with
the app's secret under a purpose of its own: changing any byte breaks the signature, a
token of one invoice says nothing about another, and bumping the version (revoking)
makes every link sent so far stop working.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.guest.errors import ExpiredPayLink, InvalidPayLink, RevokedPayLink
from portal.models import Invoice
from portal.models.types import utcnow

_PURPOSE = "acquit.pay-link"


@dataclass(frozen=True)
class PayLink:
    url: str
    token: str
    expires_at: datetime


class PayLinks:
    def __init__(self, secret_key: str, base_url: str, *, valid_for: timedelta = timedelta(days=30)):
        self._serializer = URLSafeSerializer(secret_key, salt=_PURPOSE)
        self.base_url = base_url.rstrip("/")
        self.valid_for = valid_for

    def link_for(self, invoice: Invoice, *, now: datetime | None = None) -> PayLink:
        """A fresh link to pay `invoice`, valid for `valid_for` from `now`."""
        expires_at = (now or utcnow()) + self.valid_for
        token = self._serializer.dumps([invoice.id, invoice.pay_link_version, int(expires_at.timestamp())])
        return PayLink(url=f"{self.base_url}/pay/{token}", token=token, expires_at=expires_at.replace(microsecond=0))

    def invoice_for(self, session: Session, token: str, *, now: datetime | None = None) -> Invoice:
        """The invoice `token` may pay; raises a `PayLinkError` saying why not."""
        try:
            payload = self._serializer.loads(token)
            invoice_id, version, expires = payload
        except (BadSignature, ValueError, TypeError):
            raise InvalidPayLink() from None
        # Base64 leaves spare bits in a token's last character: a link whose bytes differ from
        # the one we signed is refused even where it decodes to the same signature.
        if self._serializer.dumps(payload) != token:
            raise InvalidPayLink()
        if not (isinstance(invoice_id, int) and isinstance(version, int) and isinstance(expires, int)):
            raise InvalidPayLink()
        invoice = session.get(Invoice, invoice_id)
        if invoice is None or invoice.issued_at is None:
            raise InvalidPayLink()
        if version != invoice.pay_link_version:
            raise RevokedPayLink()
        if (now or utcnow()).timestamp() > expires:
            raise ExpiredPayLink()
        return invoice


def revoke_pay_links(session: Session, actor: Actor, invoice: Invoice) -> None:
    """Make every PAY NOW link of `invoice` sent so far stop working."""
    invoice.pay_link_version += 1
    audit.record(session, "invoice.pay_links_revoked", actor, company_id=invoice.company_id, invoice_id=invoice.id)
