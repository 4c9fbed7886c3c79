"""Saving, choosing and removing a company's cards; the card numbers stay at the provider."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.models import Company, SavedCard
from portal.models.types import utcnow
from portal.payments.context import PaymentContext
from portal.payments.errors import NoCard, PaymentError, PaymentNotAllowed


def card_summary(card) -> str:
    """How a card is named to people: "Visa •••• 4242" (a saved card, or one a guest just entered)."""
    return f"{card.brand.title()} •••• {card.last4}"


def company_cards(session: Session, company_id: int) -> list[SavedCard]:
    """The company's usable cards, the default first."""
    return list(session.scalars(
        select(SavedCard)
        .where(SavedCard.company_id == company_id, SavedCard.removed_at.is_(None))
        .order_by(SavedCard.is_default.desc(), SavedCard.created_at.desc(), SavedCard.id.desc())
    ))


def start_saving_card(session: Session, context: PaymentContext, *, company: Company, email: str | None):
    """Begin saving a card for the company: the page completes it with Stripe.js."""
    if company.provider_customer_id is None:
        company.provider_customer_id = context.gateway.create_customer(
            name=company.name, email=email, company_ref=company.external_ref
        )
        session.flush()
    return context.gateway.start_card_setup(customer_id=company.provider_customer_id)


def finish_saving_card(session: Session, context: PaymentContext, actor: Actor, *, company: Company,
                       setup_id: str) -> SavedCard:
    """Record the card the browser saved; the company's first card becomes its default."""
    if company.provider_customer_id is None:
        raise PaymentError("Start by adding a card.", code="setup_incomplete")
    details = context.gateway.finish_card_setup(customer_id=company.provider_customer_id, setup_id=setup_id)
    card = session.scalar(select(SavedCard).where(SavedCard.provider_id == details.provider_id))
    if card is not None:
        if card.company_id != company.id:
            raise PaymentError("This card belongs to someone else.", code="setup_mismatch")
        return card
    has_default = session.scalar(
        select(func.count()).where(SavedCard.company_id == company.id, SavedCard.removed_at.is_(None),
                                   SavedCard.is_default.is_(True))
    )
    card = SavedCard(company_id=company.id, provider_id=details.provider_id, brand=details.brand,
                     last4=details.last4, exp_month=details.exp_month, exp_year=details.exp_year,
                     is_default=not has_default, saved_by_user_id=actor.user_id)
    session.add(card)
    session.flush()
    audit.record(session, "card.saved", actor, company_id=company.id, card=f"{card.brand} {card.last4}")
    return card


def set_default_card(session: Session, actor: Actor, *, company: Company, card_id: int) -> SavedCard:
    """Make one of the company's cards the one charged unless another is chosen."""
    card = company_card(session, company, card_id)
    for other in company_cards(session, company.id):
        other.is_default = other.id == card.id
    audit.record(session, "card.default", actor, company_id=company.id, card=f"{card.brand} {card.last4}")
    return card


def remove_card(session: Session, context: PaymentContext, actor: Actor, *, company: Company, card_id: int) -> None:
    """Forget a card here and at the provider; another card becomes the default."""
    card = company_card(session, company, card_id)
    context.gateway.detach_card(card_id=card.provider_id)
    card.removed_at = utcnow()
    was_default, card.is_default = card.is_default, False
    audit.record(session, "card.removed", actor, company_id=company.id, card=f"{card.brand} {card.last4}")
    remaining = company_cards(session, company.id)
    if was_default and remaining:
        remaining[0].is_default = True


def company_card(session: Session, company: Company, card_id: int | None) -> SavedCard:
    """The company's usable card `card_id`, or its default card when `card_id` is None."""
    statement = select(SavedCard).where(SavedCard.company_id == company.id, SavedCard.removed_at.is_(None))
    if card_id is None:
        statement = statement.where(SavedCard.is_default.is_(True))
    else:
        statement = statement.where(SavedCard.id == card_id)
    card = session.scalar(statement)
    if card is None and card_id is not None:
        raise PaymentNotAllowed("No such card.", code="not_found")
    if card is None:
        raise NoCard("Add a card first, or choose one of your saved cards.")
    return card
