"""Who gets a company's reminders and statements: the billing recipients who chose them."""

from sqlalchemy.orm import Session

from portal.accounts.recipients import recipients_for, unique_addresses
from portal.models import Company, RecipientPurpose


def reminder_recipients(session: Session, company: Company) -> list[str]:
    """The addresses a company's notices and reminders go to."""
    return unique_addresses(recipient.email for recipient in recipients_for(session, company.id,
                                                                            RecipientPurpose.REMINDERS))


def statement_recipients(session: Session, company: Company) -> list[str]:
    """The addresses a company's statements of account go to."""
    return unique_addresses(recipient.email for recipient in recipients_for(session, company.id,
                                                                            RecipientPurpose.STATEMENTS))
