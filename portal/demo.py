"""A realistic demo supplier: three customer companies, hundreds of invoices, a few users.

Everything is written through the same services the portal uses, so the demo's audit trail
and balances are exactly what real use would produce.
"""

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.accounts.service import hash_password
from portal.audit import Actor
from portal.autopay.enrolment import EnrolmentTerms, MandateContext, enrol, live_enrolment, mandate_text
from portal.autopay.settings import AutopaySettings
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, void_invoice
from portal.billing.status import InvoiceStatus, invoice_status
from portal.db import Base
from portal.disputes import service as disputes
from portal.disputes.service import DisputeClaim, DisputeContext
from portal.models import Company, CustomFieldLabel, Invoice, Role, SavedCard, User, UserKind
from portal.models.types import utcnow
from portal.payments.cards import finish_saving_card, start_saving_card
from portal.payments.context import PaymentContext
from portal.payments.ledger import record_offline_payment

DEMO_PASSWORD = "acquit-demo"
# A fictitious supplier's legal identity (valid check digits, no real company's), which
# `acquit demo` uses for every ACQUIT_SUPPLIER_* setting the environment does not give.
DEMO_SUPPLIER = {
    "ACQUIT_SUPPLIER_NAME": "Acquit Demo Supplier",
    "ACQUIT_SUPPLIER_LEGAL_FORM": "SAS",
    "ACQUIT_SUPPLIER_SHARE_CAPITAL": "50 000 €",
    "ACQUIT_SUPPLIER_ADDRESS": "12 rue des Fournisseurs",
    "ACQUIT_SUPPLIER_POSTCODE": "69002",
    "ACQUIT_SUPPLIER_CITY": "Lyon",
    "ACQUIT_SUPPLIER_COUNTRY": "FR",
    "ACQUIT_SUPPLIER_SIREN": "732829320",
    "ACQUIT_SUPPLIER_SIRET": "73282932000074",
    "ACQUIT_SUPPLIER_REGISTRY": "RCS Lyon",
    "ACQUIT_SUPPLIER_VAT_NUMBER": "FR44732829320",
    "ACQUIT_SUPPLIER_LATE_PENALTY_RATE": "12.00",
    "ACQUIT_SUPPLIER_IBAN": "FR7630006000011234567890189",
    "ACQUIT_SUPPLIER_BIC": "AGRIFRPP",
    "ACQUIT_SUPPLIER_BANK_NAME": "Banque Démo",
    "ACQUIT_SUPPLIER_EMAIL": "facturation@fournisseur.test",
}
INVOICES_PER_COMPANY = 120

COMPANIES = [
    ("BOUL-MARTIN", "Boulangeries Martin SAS", ["compta@boulangeries-martin.test"], "fr", "EUR"),
    ("ATELIER-DUPONT", "Atelier Dupont & Fils SARL",
     ["factures@atelier-dupont.test", "jean.dupont@atelier-dupont.test"], "fr", "EUR"),
    ("NORTHWIND", "Northwind Components Ltd", ["ap@northwind.test"], "en", "GBP"),
]

# Each company's billing address, VAT number and SIREN, printed on its invoices (fictitious, valid check digits).
COMPANY_IDENTITIES = {
    "BOUL-MARTIN": ("3 place du Marché", "75011", "Paris", "FR", "FR40303265045", "303265045"),
    "ATELIER-DUPONT": ("18 rue des Artisans", "33000", "Bordeaux", "FR", "FR03552081317", "552081317"),
    "NORTHWIND": ("40 Harbour Road", "BS1 5TY", "Bristol", "GB", "GB980780629", None),
}
# What the demo's custom field is called on invoices, per language.
CUSTOM_FIELD_LABELS = {"cost_centre": {"fr": "Centre de coût", "en": "Cost centre"}}

USERS = [
    ("claire.martin@boulangeries-martin.test", "Claire Martin", "BOUL-MARTIN", Role.ADMIN, None),
    ("paul.roux@boulangeries-martin.test", "Paul Roux", "BOUL-MARTIN", Role.PAYER, None),
    ("lea.petit@boulangeries-martin.test", "Léa Petit", "BOUL-MARTIN", Role.VIEWER, None),
    ("jean.dupont@atelier-dupont.test", "Jean Dupont", "ATELIER-DUPONT", Role.ADMIN, None),
    ("alice.smith@northwind.test", "Alice Smith", "NORTHWIND", Role.ADMIN, "en"),
]
STAFF = ("recouvrement@fournisseur.test", "Sophie Bernard (recouvrement)")
# The company on autopay: its admin saved a card and accepted the mandate (charged on each due date).
AUTOPAY_COMPANY, AUTOPAY_ADMIN = "ATELIER-DUPONT", "jean.dupont@atelier-dupont.test"
AUTOPAY_CARD_NUMBER = "4242424242424242"

PRODUCTS = [
    ("Farine T65 — sac 25 kg", 2150, "5.50"),
    ("Levure fraîche — carton 1 kg", 690, "5.50"),
    ("Pétrin spirale — maintenance annuelle", 48000, "20.00"),
    ("Four à sole — pièce détachée", 12990, "20.00"),
    ("Emballages kraft — lot de 1 000", 3480, "20.00"),
    ("Livraison express", 2500, "20.00"),
    ("Steel brackets, zinc plated (box of 100)", 4599, "20.00"),
    ("Consulting — half day", 45000, "20.00"),
]

SIGN_IN_HELP = "\n".join(
    [f"Demo sign-ins (password for all: {DEMO_PASSWORD}):"]
    + [f"  {email:45} {role.value:7} {ref}" for email, _, ref, role, _ in USERS]
    + [f"  {STAFF[0]:45} staff"]
)


def is_loaded(session: Session) -> bool:
    return session.scalar(select(Company.id).where(Company.external_ref == COMPANIES[0][0])) is not None


def forget_fake_stripe_records(session: Session) -> None:
    """Drop links to customers and cards of a previous fake Stripe, which forgets them when it stops."""
    session.execute(update(Company).values(provider_customer_id=None))
    session.execute(update(SavedCard).where(SavedCard.removed_at.is_(None)).values(removed_at=utcnow(), is_default=False))


def keep_on_autopay(session: Session, payments: PaymentContext, *, confirm_card: Callable[[str, str], object],
                    supplier_name: str, settings: AutopaySettings, today: date) -> str:
    """Put the autopay company on autopay, with a card saved at the fake Stripe; returns a summary.

    The card is saved as on the page: the gateway starts the setup, `confirm_card(setup_id,
    number)` does what Stripe.js does with the card typed in, the gateway finishes it. The
    fake Stripe forgets its cards when it stops, so each start saves the card again and points
    the company's enrolment (mandate and history kept) at it; the first start enrols.
    """
    company = session.scalar(select(Company).where(Company.external_ref == AUTOPAY_COMPANY))
    admin = session.scalar(select(User).where(User.email == AUTOPAY_ADMIN))
    setup = start_saving_card(session, payments, company=company, email=admin.email)
    confirm_card(setup.setup_id, AUTOPAY_CARD_NUMBER)
    card = finish_saving_card(session, payments, Actor.user(admin), company=company, setup_id=setup.setup_id)
    enrolment = live_enrolment(session, company.id)
    if enrolment is not None:
        # The same card number again: the mandate's "Visa •••• 4242" still names it.
        enrolment.card = card
        return f"Demo autopay: {company.name} on autopay again with its card saved afresh."
    terms = EnrolmentTerms(card_id=card.id)
    mandate = MandateContext(supplier_name=supplier_name, locale=admin.locale or company.locale, settings=settings,
                             today=today)
    enrol(session, admin, company=company, terms=terms, accepted_text=mandate_text(session, company, terms, mandate),
          ip_address="127.0.0.1", context=mandate)
    return f"Demo autopay: {company.name} enrolled by {admin.email}, charged on each due date from {today}."


def drop_everything(engine: Engine) -> None:
    """Remove every table, Alembic's own included, so `db upgrade` starts from nothing."""
    import portal.models  # noqa: F401

    Base.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def load(session: Session, *, today: date, seed: int = 2026) -> str:
    """Write the demo supplier's customers, users and invoice history; returns a summary."""
    generator = random.Random(seed)
    actor = Actor.system("demo")
    password_hash = hash_password(DEMO_PASSWORD)
    companies = {}
    for ref, name, emails, locale, currency in COMPANIES:
        address, postcode, city, country, vat_number, siren = COMPANY_IDENTITIES[ref]
        companies[ref] = Company(external_ref=ref, name=name, billing_emails=emails, locale=locale, currency=currency,
                                 billing_address=address, billing_postcode=postcode, billing_city=city,
                                 billing_country=country, vat_number=vat_number, siren=siren)
        session.add(companies[ref])
    for key, labels in CUSTOM_FIELD_LABELS.items():
        session.add_all(CustomFieldLabel(field_key=key, locale=locale, label=label) for locale, label in labels.items())
    # A British customer reads English with British dates (15 Nov 2026, 14:05).
    companies["NORTHWIND"].region = "GB"
    for email, full_name, ref, role, locale in USERS:
        session.add(User(email=email, full_name=full_name, password_hash=password_hash, kind=UserKind.CLERK,
                         company=companies[ref], role=role, locale=locale))
    session.add(User(email=STAFF[0], full_name=STAFF[1], password_hash=password_hash, kind=UserKind.STAFF))
    session.flush()

    counts = {"invoices": 0, "payments": 0, "credit notes": 0, "void": 0}
    for company_index, company in enumerate(companies.values()):
        for sequence in range(INVOICES_PER_COMPANY):
            issue_date = today - timedelta(days=(INVOICES_PER_COMPANY - sequence) * 4 + generator.randint(0, 3))
            due_date = issue_date + timedelta(days=generator.choice((30, 30, 45, 60)))
            issued_at = datetime.combine(issue_date, time(9, 0), tzinfo=UTC)
            lines = [
                LineInput(description=description, quantity=Decimal(generator.choice((1, 1, 2, 3, 5, 10, 12))),
                          unit_amount=unit_amount, tax_rate=Decimal(rate))
                for description, unit_amount, rate in generator.sample(PRODUCTS, generator.randint(1, 4))
            ]
            invoice = create_invoice(
                session, actor, company=company, number=f"INV-{issue_date.year}-{company_index + 1}{sequence + 1:04d}",
                issue_date=issue_date, due_date=due_date, currency=company.currency, lines=lines,
                po_number=f"PO-{generator.randint(1000, 9999)}" if generator.random() < 0.8 else None,
                custom_fields={"cost_centre": generator.choice(["Production", "Boutique", "R&D"])}
                if company.external_ref != "NORTHWIND" else {},
                now=issued_at,
            )
            counts["invoices"] += 1
            _settle_some(session, actor, company, invoice, today, generator, counts)
    return (
        f"Demo loaded: {len(companies)} companies, {counts['invoices']} invoices, {counts['payments']} payments, "
        f"{counts['credit notes']} credit notes, {counts['void']} void."
    )


def _settle_some(session, actor, company, invoice, today, generator, counts) -> None:
    """Pay, part-pay, credit or void an invoice the way real customers do; recent ones stay open."""
    age = (today - invoice.due_date).days
    roll = generator.random()
    paid_on = datetime.combine(min(today, invoice.due_date - timedelta(days=generator.randint(-10, 5))),
                               time(14, 30), tzinfo=UTC)
    if roll < 0.03:
        void_invoice(session, actor, invoice, "Facture émise en double", now=paid_on)
        counts["void"] += 1
    elif roll < 0.08:
        issue_credit_note(session, actor, invoice=invoice, number=f"CN-{invoice.number}",
                          amount=max(1, invoice.amount_total // 10), issue_date=paid_on.date(),
                          reason="Geste commercial — livraison tardive", now=paid_on)
        counts["credit notes"] += 1
        if age > 0:
            _pay(session, actor, company, invoice, invoice.amount_due, paid_on, counts)
    else:
        # Old invoices are nearly all settled; recent ones are a mix, as on any real ledger.
        full, half = (0.93, 0.97) if age > 45 else (0.5, 0.6) if age > 0 else (0.15, 0.3)
        if roll < full:
            _pay(session, actor, company, invoice, invoice.amount_due, paid_on, counts)
        elif roll < half:
            _pay(session, actor, company, invoice, invoice.amount_total // 2, paid_on, counts)


def _pay(session, actor, company, invoice, amount, paid_on, counts) -> None:
    if amount <= 0:
        return
    record_offline_payment(
        session, actor, company=company, allocations=[(invoice, amount)],
        method_summary="SEPA", reference=f"VIR-{invoice.number}", now=paid_on,
    )
    counts["payments"] += 1


def raise_disputes(session: Session, context: DisputeContext, *, today: date) -> str:
    """Disputes as customers raise them and the collections team settles them: one under review on
    part of an unpaid invoice, one closed with a credit note, one rejected; returns a summary."""
    company = session.scalar(select(Company).where(Company.external_ref == COMPANIES[0][0]))
    clerk = session.scalar(select(User).where(User.email == USERS[0][0]))
    staff = session.scalar(select(User).where(User.email == STAFF[0]))
    unpaid = [invoice for invoice in _open_invoices(session, company, today) if invoice.amount_due >= 200_00][:3]
    if len(unpaid) < 3:
        return "Demo disputes: not enough unpaid invoices to dispute."
    under_review, credited, rejected = unpaid
    disputes.raise_dispute(session, context, clerk, invoice=under_review, claim=DisputeClaim(
        reason="damaged", amount=under_review.amount_due // 3,
        message="Deux sacs de farine sont arrivés éventrés : nous contestons leur part de la facture."))
    for invoice in (credited, rejected):
        disputes.raise_dispute(session, context, clerk, invoice=invoice, claim=DisputeClaim(
            reason="wrong_price", amount=invoice.amount_due // 4,
            message="Le prix unitaire facturé n'est pas celui de notre devis."))
    session.flush()
    disputes.accept_with_credit_note(
        session, context, staff, disputes.active_dispute(session, credited.id),
        amount=credited.amount_due // 4, credit_note_number=f"CN-LIT-{credited.number}", issue_date=today,
        note="Erreur de tarif de notre part : avoir émis.")
    disputes.reject_dispute(session, context, staff, disputes.active_dispute(session, rejected.id),
                            reason="Le tarif appliqué est celui du devis signé du mois dernier.")
    return (f"Demo disputes: {under_review.number} under review (part of it), {credited.number} credited, "
            f"{rejected.number} rejected.")


def invoice_to_pay_as_guest(session: Session, *, today: date) -> Invoice | None:
    """An unpaid invoice of the first customer never disputed, for the PAY NOW link the demo prints."""
    company = session.scalar(select(Company).where(Company.external_ref == COMPANIES[0][0]))
    return next((invoice for invoice in _open_invoices(session, company, today)
                 if not disputes.invoice_disputes(session, invoice)), None)


def _open_invoices(session: Session, company: Company, today: date) -> list[Invoice]:
    invoices = session.scalars(
        select(Invoice).where(Invoice.company_id == company.id, Invoice.issued_at.is_not(None),
                              Invoice.voided_at.is_(None), Invoice.amount_paid == 0,
                              Invoice.amount_credited == 0)
        .order_by(Invoice.due_date.desc(), Invoice.id.desc())
    )
    return [invoice for invoice in invoices if invoice_status(invoice, today) in (InvoiceStatus.OPEN,
                                                                                  InvoiceStatus.OVERDUE)]
