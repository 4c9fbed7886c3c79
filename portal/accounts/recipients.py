"""A company's billing recipients: who receives its invoices, reminders, receipts and statements.

Mail code asks `recipients_for` and nothing else, so a recipient's choices hold everywhere.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from portal import audit
from portal.accounts.errors import AccountError
from portal.accounts.service import normalise_email
from portal.audit import Actor
from portal.models import BillingRecipient, Company, InvoiceFormat, RecipientPurpose

#: As the API's own limit on `billing_emails`: a company's mail is for a team, not a mailing list.
MAX_RECIPIENTS = 20


class RecipientError(AccountError):
    """A change to the recipients that cannot be made; `code` says why."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Recipient:
    """An address to send one kind of mail to, and the invoice document it wants attached."""

    email: str
    invoice_format: InvoiceFormat

    @property
    def wants_attachment(self) -> bool:
        return self.invoice_format != InvoiceFormat.LINK


def recipients_for(session: Session, company_id: int, purpose: RecipientPurpose) -> list[Recipient]:
    """The addresses of `company_id` that chose to receive `purpose`, oldest first."""
    return recipients_by_company(session, [company_id], purpose).get(company_id, [])


# Built once for each purpose: every new invoice runs one.
_RECIPIENTS_OF_COMPANIES = {
    purpose: select(BillingRecipient.company_id, BillingRecipient.email, BillingRecipient.invoice_format)
    .where(BillingRecipient.company_id.in_(bindparam("companies", expanding=True)),
           getattr(BillingRecipient, f"receives_{purpose}").is_(True))
    .order_by(BillingRecipient.id)
    for purpose in RecipientPurpose
}


def recipients_by_company(session: Session, company_ids: Iterable[int], purpose: RecipientPurpose) -> dict[int, list[Recipient]]:
    """`recipients_for` of several companies in one query, by company id; a company with none is left out."""
    found: dict[int, list[Recipient]] = {}
    rows = session.execute(_RECIPIENTS_OF_COMPANIES[RecipientPurpose(purpose)], {"companies": list(set(company_ids))})
    for company_id, email, invoice_format in rows:
        found.setdefault(company_id, []).append(Recipient(email=email, invoice_format=InvoiceFormat(invoice_format)))
    return found


def unique_addresses(addresses: Iterable[str]) -> list[str]:
    """`addresses` without blanks or repeats (ignoring case), in their order: one copy of a mail each."""
    seen, unique = set(), []
    for address in addresses:
        if address and address.lower() not in seen:
            seen.add(address.lower())
            unique.append(address)
    return unique


def company_recipients(session: Session, company_id: int) -> list[BillingRecipient]:
    """Every recipient of `company_id`, for its admins' page."""
    return list(session.scalars(
        select(BillingRecipient).where(BillingRecipient.company_id == company_id).order_by(BillingRecipient.id)
    ))


def find_recipient(session: Session, company_id: int, recipient_id: int) -> BillingRecipient | None:
    """Recipient `recipient_id` if it belongs to `company_id`."""
    return session.scalar(select(BillingRecipient).where(
        BillingRecipient.id == recipient_id, BillingRecipient.company_id == company_id))


def add_recipient(session: Session, actor: Actor, company: Company, email: str, *,
                  purposes: Iterable[RecipientPurpose] = tuple(RecipientPurpose),
                  invoice_format: InvoiceFormat = InvoiceFormat.PDF) -> BillingRecipient:
    """A new recipient of `company`, receiving `purposes`; refuses an address it has already."""
    email = normalise_email(email)
    existing = {normalise_email(address) for address in company.billing_emails}
    if email in existing:
        raise RecipientError("recipient_exists")
    if len(existing) >= MAX_RECIPIENTS:
        raise RecipientError("too_many_recipients")
    recipient = BillingRecipient(email=email, invoice_format=InvoiceFormat(invoice_format),
                                 **_choices(set(purposes)))
    company.recipients.append(recipient)
    session.flush()
    audit.record(session, "recipient.added", actor, company_id=company.id, email=email,
                 purposes=sorted(set(purposes)), invoice_format=str(invoice_format))
    return recipient


def update_recipient(session: Session, actor: Actor, recipient: BillingRecipient, *,
                     purposes: Iterable[RecipientPurpose], invoice_format: InvoiceFormat) -> None:
    """Change what `recipient` receives and the invoice document attached for them."""
    recipient.invoice_format = InvoiceFormat(invoice_format)
    for name, value in _choices(set(purposes)).items():
        setattr(recipient, name, value)
    audit.record(session, "recipient.changed", actor, company_id=recipient.company_id, email=recipient.email,
                 purposes=sorted(set(purposes)), invoice_format=str(invoice_format))


def remove_recipient(session: Session, actor: Actor, recipient: BillingRecipient) -> None:
    """Stop sending anything to `recipient`."""
    audit.record(session, "recipient.removed", actor, company_id=recipient.company_id, email=recipient.email)
    session.delete(recipient)


def replace_billing_emails(company: Company, emails: list[str]) -> bool:
    """Make `emails` the company's recipients, as the ERP sends them; returns whether anything changed.

    An address already there keeps the choices its company made for it; a new one receives
    everything, with the PDF; an address left out is removed.
    """
    wanted = {normalise_email(email): email for email in emails}
    kept = [recipient for recipient in company.recipients if normalise_email(recipient.email) in wanted]
    known = {normalise_email(recipient.email) for recipient in kept}
    added = [BillingRecipient(email=email) for key, email in wanted.items() if key not in known]
    if len(kept) == len(company.recipients) and not added:
        return False
    company.recipients = kept + added
    return True


def _choices(purposes: set[RecipientPurpose]) -> Mapping[str, bool]:
    return {f"receives_{purpose}": purpose in purposes for purpose in RecipientPurpose}
