"""The supplier's view across customers: what each company owes, and how late."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from portal.billing.status import amount_due_expression
from portal.models import Company, Invoice


@dataclass(frozen=True)
class CompanyBalance:
    company: Company
    currency: str
    total_due: int
    overdue: int
    overdue_count: int
    open_count: int


def company_balances(session: Session, *, today: date) -> list[CompanyBalance]:
    """Each company's amount due and overdue per currency, largest overdue first."""
    due = amount_due_expression()
    is_overdue = (Invoice.due_date < today) & (due > 0)
    rows = session.execute(
        select(
            Company,
            Invoice.currency,
            func.sum(due),
            func.sum(case((is_overdue, due), else_=0)),
            func.sum(case((is_overdue, 1), else_=0)),
            func.sum(case((due > 0, 1), else_=0)),
        )
        .join(Invoice, Invoice.company_id == Company.id)
        .where(Invoice.issued_at.is_not(None))
        .group_by(Company.id, Invoice.currency)
    ).all()
    balances = [
        CompanyBalance(company, currency, int(total or 0), int(overdue or 0), int(late or 0), int(count or 0))
        for company, currency, total, overdue, late, count in rows
    ]
    return sorted(balances, key=lambda balance: (-balance.overdue, -balance.total_due, balance.company.name))
