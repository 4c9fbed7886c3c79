"""Small builders for test data, written through the real services where there is one."""

import io
import itertools
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from portal.accounts.service import hash_password
from portal.audit import Actor
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note
from portal.disputes.attachments import Upload
from portal.disputes.service import DisputeClaim, raise_dispute
from portal.models import Company, Invoice, Role, User, UserKind
from portal.payments.ledger import record_offline_payment

#: The smallest bytes a PDF reader (and the attachment check) takes for a PDF.
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

_sequence = itertools.count(1)
_PASSWORD_HASH = None


def _password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = hash_password(Builders.PASSWORD)
    return _PASSWORD_HASH


class Builders:
    PASSWORD = "correct horse battery"
    ACTOR = Actor.system("tests")

    def __init__(self, session: Session):
        self.session = session

    def company(self, *, ref: str | None = None, name: str | None = None, currency: str = "EUR",
                locale: str = "fr", billing_emails: list[str] | None = None) -> Company:
        n = next(_sequence)
        company = Company(
            external_ref=ref or f"CUST-{n}", name=name or f"Customer {n} SAS", currency=currency, locale=locale,
            billing_emails=billing_emails if billing_emails is not None else [f"ap{n}@customer.test"],
        )
        self.session.add(company)
        self.session.flush()
        return company

    def user(self, company: Company | None = None, *, role: Role = Role.PAYER, email: str | None = None,
             locale: str | None = None, active: bool = True) -> User:
        n = next(_sequence)
        user = User(
            email=email or f"user{n}@example.test",
            full_name=f"User {n}",
            password_hash=_password_hash(),
            kind=UserKind.CLERK if company is not None else UserKind.STAFF,
            company=company,
            role=role if company is not None else None,
            locale=locale,
            is_active=active,
        )
        self.session.add(user)
        self.session.flush()
        return user

    def staff(self, **kwargs) -> User:
        return self.user(None, **kwargs)

    def invoice(self, company: Company, *, total: int = 10_000, number: str | None = None,
                issue_date: date | None = None, due_date: date | None = None, po_number: str | None = None,
                tax_rate: str = "0", issue: bool = True, custom_fields: dict | None = None,
                currency: str | None = None) -> Invoice:
        """An invoice of one line whose total is exactly `total` minor units (tax 0 % unless told), in the
        company's currency unless told."""
        issue_date = issue_date or date.today() - timedelta(days=10)
        invoice = create_invoice(
            self.session, self.ACTOR, company=company, number=number or f"INV-T-{next(_sequence):06d}",
            issue_date=issue_date, due_date=due_date or issue_date + timedelta(days=30),
            currency=currency or company.currency, po_number=po_number, custom_fields=custom_fields, issue=issue,
            lines=[LineInput(description="Services", quantity=Decimal(1), unit_amount=total,
                             tax_rate=Decimal(tax_rate))],
        )
        # Flushed, so requests made by the test (their own sessions) see the invoice as issued.
        self.session.flush()
        return invoice

    def payment(self, invoice: Invoice, amount: int):
        payment = record_offline_payment(
            self.session, self.ACTOR, company=invoice.company, allocations=[(invoice, amount)],
            method_summary="Bank transfer", reference=f"TRF-{next(_sequence)}",
        )
        self.session.flush()
        return payment

    def credit_note(self, invoice: Invoice, amount: int):
        note = issue_credit_note(
            self.session, self.ACTOR, invoice=invoice, number=f"CN-{next(_sequence)}", amount=amount,
            issue_date=date.today(),
        )
        self.session.flush()
        return note

    def dispute(self, context, invoice: Invoice, raised_by: User, *, amount: int | None = None,
                reason: str = "wrong_price", message: str = "The unit price is not the one we agreed.",
                files: tuple[tuple[str, bytes], ...] = ()):
        """A dispute raised through the service as `raised_by` would; `files` are (name, bytes) pairs."""
        dispute = raise_dispute(
            self.session, context, raised_by, invoice=invoice,
            claim=DisputeClaim(reason=reason, message=message, amount=amount,
                               uploads=tuple(Upload(name, io.BytesIO(data)) for name, data in files)),
        )
        self.session.flush()
        return dispute
