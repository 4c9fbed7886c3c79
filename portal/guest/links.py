"""Signed PAY NOW links: they name one invoice (or several of one company) and an expiry, and can pay only those.

The token is the invoice id, the invoice's `pay_link_version` and an expiry, signed with
the app's secret under a purpose of its own: changing any byte breaks the signature, a
token of one invoice says nothing about another, and bumping the version (revoking)
makes every link sent so far stop working. A link for several invoices (the one a reminder
carries) names the company, each invoice with its version, and the expiry, under another
purpose: revoking any of its invoices' links revokes it too.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.guest.errors import ExpiredPayLink, InvalidPayLink, RevokedPayLink
from portal.models import Invoice
from portal.models.types import utcnow

_PURPOSE = "acquit.pay-link"
_SEVERAL_PURPOSE = "acquit.pay-link.several"
#: The most invoices one link pays (as many as one payment may settle).
MAX_INVOICES_PER_LINK = 100


@dataclass(frozen=True)
class PayLink:
    url: str
    token: str
    expires_at: datetime


class PayLinks:
    def __init__(self, secret_key: str, base_url: str, *, valid_for: timedelta = timedelta(days=30)):
        self._serializer = URLSafeSerializer(secret_key, salt=_PURPOSE)
        self._several_serializer = URLSafeSerializer(secret_key, salt=_SEVERAL_PURPOSE)
        self.base_url = base_url.rstrip("/")
        self.valid_for = valid_for

    def link_for(self, invoice: Invoice, *, now: datetime | None = None) -> PayLink:
        """A fresh link to pay `invoice`, valid for `valid_for` from `now`."""
        expires_at = (now or utcnow()) + self.valid_for
        token = self._serializer.dumps([invoice.id, invoice.pay_link_version, int(expires_at.timestamp())])
        return PayLink(url=f"{self.base_url}/pay/{token}", token=token, expires_at=expires_at.replace(microsecond=0))

    def document_link_for(self, invoice: Invoice, *, now: datetime | None = None) -> PayLink:
        """A link to pay `invoice` for its PDF: the same all day (valid `valid_for` from the day's start,
        UTC), so the PDF carrying it stays the same document, which downloads keep and tag."""
        now = now or utcnow()
        return self.link_for(invoice, now=now.replace(hour=0, minute=0, second=0, microsecond=0))

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


    def link_for_invoices(self, invoices: list[Invoice], *, now: datetime | None = None) -> PayLink:
        """A fresh link paying all of `invoices` (one company's, at most MAX_INVOICES_PER_LINK) at once."""
        if not invoices or len(invoices) > MAX_INVOICES_PER_LINK or len({i.company_id for i in invoices}) != 1:
            raise ValueError("a link pays 1 to 100 invoices of one company")
        expires_at = (now or utcnow()) + self.valid_for
        token = self._several_serializer.dumps([
            invoices[0].company_id, [invoice.id for invoice in invoices],
            [invoice.pay_link_version for invoice in invoices], int(expires_at.timestamp())])
        return PayLink(url=f"{self.base_url}/pay/invoices/{token}", token=token,
                       expires_at=expires_at.replace(microsecond=0))

    def invoices_for(self, session: Session, token: str, *, now: datetime | None = None) -> list[Invoice]:
        """The invoices a several-invoice `token` may pay, in the link's order; raises a `PayLinkError` saying why not."""
        try:
            payload = self._several_serializer.loads(token)
            company_id, invoice_ids, versions, expires = payload
        except (BadSignature, ValueError, TypeError):
            raise InvalidPayLink() from None
        if self._several_serializer.dumps(payload) != token:
            raise InvalidPayLink()
        if not (isinstance(company_id, int) and isinstance(expires, int) and isinstance(invoice_ids, list)
                and isinstance(versions, list) and 0 < len(invoice_ids) == len(versions) <= MAX_INVOICES_PER_LINK
                and all(isinstance(value, int) for value in invoice_ids + versions)):
            raise InvalidPayLink()
        found = {invoice.id: invoice for invoice in session.scalars(
            select(Invoice).where(Invoice.id.in_(invoice_ids), Invoice.company_id == company_id,
                                  Invoice.issued_at.is_not(None)))}
        if len(found) != len(set(invoice_ids)):
            raise InvalidPayLink()
        if any(found[invoice_id].pay_link_version != version for invoice_id, version in zip(invoice_ids, versions)):
            raise RevokedPayLink()
        if (now or utcnow()).timestamp() > expires:
            raise ExpiredPayLink()
        return [found[invoice_id] for invoice_id in dict.fromkeys(invoice_ids)]


def revoke_pay_links(session: Session, actor: Actor, invoice: Invoice) -> None:
    """Make every PAY NOW link of `invoice` sent so far stop working."""
    invoice.pay_link_version += 1
    audit.record(session, "invoice.pay_links_revoked", actor, company_id=invoice.company_id, invoice_id=invoice.id)
