"""The labels the supplier gives its invoices' custom fields, per language, set through the API."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.sync import Outcome
from portal.models import CustomFieldLabel


def set_field_labels(session: Session, actor: Actor, key: str, labels: dict[str, str]) -> tuple[dict[str, str], str]:
    """Give the custom field `key` exactly these labels (locale -> label); returns them and the outcome.

    A language left out loses its label: invoices in it then show another language's label.
    """
    existing = {row.locale: row for row in session.scalars(
        select(CustomFieldLabel).where(CustomFieldLabel.field_key == key))}
    if {locale: row.label for locale, row in existing.items()} == labels:
        return dict(labels), Outcome.UNCHANGED
    for locale, row in existing.items():
        if locale not in labels:
            session.delete(row)
        else:
            row.label = labels[locale]
    for locale, label in labels.items():
        if locale not in existing:
            session.add(CustomFieldLabel(field_key=key, locale=locale, label=label))
    session.flush()
    audit.record(session, "custom_field.labelled", actor, key=key, labels=labels)
    return dict(labels), Outcome.UPDATED if existing else Outcome.CREATED


def all_field_labels(session: Session) -> dict[str, dict[str, str]]:
    """Every labelled custom field: key -> {locale: label}."""
    labelled: dict[str, dict[str, str]] = {}
    for row in session.scalars(select(CustomFieldLabel).order_by(CustomFieldLabel.field_key, CustomFieldLabel.locale)):
        labelled.setdefault(row.field_key, {})[row.locale] = row.label
    return labelled
