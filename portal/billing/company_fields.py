"""The company's own fields: defined by its admins, filled in by its clerks on each invoice.

A field is text or one of a list of values. What a clerk fills in is searchable and filterable
on the invoice list (`portal.billing.history`) and goes into the company's CSV export.
"""

from collections.abc import Iterable, Mapping

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from portal import audit
from portal.audit import Actor
from portal.billing.errors import BillingError
from portal.models import CompanyField, CompanyFieldKind, Invoice, InvoiceFieldValue

MAX_FIELDS = 10
MAX_LABEL_LENGTH = 60
MAX_CHOICES = 50
MAX_VALUE_LENGTH = 200


class FieldError(BillingError):
    """A field definition or value refused; `code` says why, `field_id` which field when a value."""

    def __init__(self, code: str, field_id: int | None = None):
        super().__init__(code)
        self.code = code
        self.field_id = field_id


# Built once: the invoice list reads it on every request, and building and keying it cost more than running it.
_FIELDS_OF_COMPANY = (select(CompanyField).where(CompanyField.company_id == bindparam("company_id"))
                      .order_by(CompanyField.position, CompanyField.id))


def company_fields(session: Session, company_id: int) -> list[CompanyField]:
    """`company_id`'s fields, in the order its admins set."""
    return list(session.scalars(_FIELDS_OF_COMPANY, {"company_id": company_id}))


def find_company_field(session: Session, company_id: int, field_id: int) -> CompanyField | None:
    """Field `field_id` if it belongs to `company_id`."""
    return session.scalar(select(CompanyField).where(CompanyField.id == field_id,
                                                     CompanyField.company_id == company_id))


def define_field(session: Session, actor: Actor, company_id: int, *, label: str, kind: CompanyFieldKind,
                 choices: Iterable[str] = ()) -> CompanyField:
    """A new field of `company_id`, last in order."""
    existing = company_fields(session, company_id)
    if len(existing) >= MAX_FIELDS:
        raise FieldError("too_many_fields")
    label = _checked_label(label, [field.label for field in existing])
    kind = CompanyFieldKind(kind)
    field = CompanyField(company_id=company_id, label=label, kind=kind,
                         choices=_checked_choices(kind, choices),
                         position=max((field.position for field in existing), default=0) + 1)
    session.add(field)
    session.flush()
    audit.record(session, "company_field.defined", actor, company_id=company_id, label=label, kind=str(kind),
                 choices=field.choices)
    return field


def change_field(session: Session, actor: Actor, field: CompanyField, *, label: str,
                 choices: Iterable[str] = ()) -> None:
    """Rename `field` and, for a list, change its values; values already filled in are kept."""
    others = [other.label for other in company_fields(session, field.company_id) if other.id != field.id]
    field.label = _checked_label(label, others)
    field.choices = _checked_choices(CompanyFieldKind(field.kind), choices)
    audit.record(session, "company_field.changed", actor, company_id=field.company_id, label=field.label,
                 choices=field.choices)


def remove_field(session: Session, actor: Actor, field: CompanyField) -> None:
    """Remove `field` and what was filled in for it on every invoice."""
    audit.record(session, "company_field.removed", actor, company_id=field.company_id, label=field.label)
    session.execute(delete(InvoiceFieldValue).where(InvoiceFieldValue.field_id == field.id))
    session.delete(field)


def invoice_field_values(session: Session, invoice: Invoice) -> dict[int, str]:
    """What was filled in on `invoice`, by field id."""
    return dict(session.execute(
        select(InvoiceFieldValue.field_id, InvoiceFieldValue.value).where(InvoiceFieldValue.invoice_id == invoice.id)
    ).all())


def fill_invoice_fields(session: Session, actor: Actor, invoice: Invoice, values: Mapping[int, str]) -> bool:
    """Set the company's fields on `invoice` to `values` (field id → value; blank clears it).

    Every value is checked before anything is written, so a refusal changes nothing.
    Returns whether anything changed.
    """
    fields = {field.id: field for field in company_fields(session, invoice.company_id)}
    wanted = {}
    for field_id, value in values.items():
        field = fields.get(field_id)
        if field is None:
            raise FieldError("unknown_field", field_id)
        value = " ".join((value or "").split())
        if len(value) > MAX_VALUE_LENGTH:
            raise FieldError("value_too_long", field_id)
        if value and field.kind == CompanyFieldKind.CHOICE and value not in field.choices:
            raise FieldError("not_a_choice", field_id)
        wanted[field_id] = value
    rows = {row.field_id: row for row in session.scalars(
        select(InvoiceFieldValue).where(InvoiceFieldValue.invoice_id == invoice.id))}
    changed = {}
    for field_id, value in wanted.items():
        row = rows.get(field_id)
        if (row.value if row else "") == value:
            continue
        changed[fields[field_id].label] = value
        if not value:
            session.delete(row)
        elif row is None:
            session.add(InvoiceFieldValue(invoice_id=invoice.id, field_id=field_id, value=value,
                                          updated_by_user_id=actor.user_id))
        else:
            row.value, row.updated_by_user_id = value, actor.user_id
    if changed:
        audit.record(session, "invoice.fields_filled", actor, company_id=invoice.company_id, invoice_id=invoice.id,
                     values=changed)
    return bool(changed)


def invoices_with_field_value(field_id: int, value: str):
    """A condition on `Invoice`: field `field_id` holds exactly `value`."""
    return Invoice.id.in_(select(InvoiceFieldValue.invoice_id).where(
        InvoiceFieldValue.field_id == field_id, InvoiceFieldValue.value == value))


def invoices_with_a_field_containing(needle: str):
    """A condition on `Invoice`: one of the company's fields contains `needle` (lower case), for the search box."""
    return Invoice.id.in_(select(InvoiceFieldValue.invoice_id).where(
        func.lower(InvoiceFieldValue.value).contains(needle, autoescape=True)))


def field_value_column(field: CompanyField):
    """What `field` holds on each invoice of a `select(Invoice)`, as a column (for the CSV export)."""
    return (select(InvoiceFieldValue.value)
            .where(InvoiceFieldValue.invoice_id == Invoice.id, InvoiceFieldValue.field_id == field.id)
            .scalar_subquery())


def _checked_label(label: str, taken: list[str]) -> str:
    label = " ".join((label or "").split())
    if not label:
        raise FieldError("label_required")
    if len(label) > MAX_LABEL_LENGTH:
        raise FieldError("label_too_long")
    if label.casefold() in {other.casefold() for other in taken}:
        raise FieldError("label_taken")
    return label


def _checked_choices(kind: CompanyFieldKind, choices: Iterable[str]) -> list[str]:
    if kind != CompanyFieldKind.CHOICE:
        return []
    cleaned = []
    for choice in choices:
        choice = " ".join((choice or "").split())
        if choice and choice not in cleaned:
            cleaned.append(choice)
    if not cleaned:
        raise FieldError("choices_required")
    if len(cleaned) > MAX_CHOICES or any(len(choice) > MAX_VALUE_LENGTH for choice in cleaned):
        raise FieldError("too_many_choices")
    return cleaned
