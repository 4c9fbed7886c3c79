"""The companies list: each customer's balance and aging, searched, sorted and paged in SQL.

A company owing in two currencies has a row for each (amounts in different currencies are
never added up); a company owing nothing still has one row, so staff can find it by name.
"""

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from portal.billing.exports import csv_chunks
from portal.billing.money import to_decimal
from portal.billing.status import open_invoice_condition
from portal.collections.dashboard import Aging, aging_from, aging_sums
from portal.collections.pages import DEFAULT_PAGE_SIZE, Page, page_within
from portal.models import Company, Invoice


class CompanySort(enum.StrEnum):
    BALANCE = "balance"  # largest amount due first
    OLDEST_OVERDUE = "oldest_overdue"  # the company whose oldest overdue invoice is the oldest first
    NAME = "name"


@dataclass(frozen=True)
class CompanyQuery:
    text: str = ""  # part of the name or the reference, any case
    sort: CompanySort = CompanySort.BALANCE
    page: int = 1
    per_page: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class CompanyBalance:
    company: Company
    currency: str  # the company's own currency when it owes nothing
    aging: Aging
    open_count: int
    overdue_count: int
    oldest_overdue: date | None  # due date of its oldest unpaid overdue invoice

    @property
    def balance(self) -> int:
        return self.aging.total


def company_balances(session: Session, query: CompanyQuery, *, today: date) -> Page[CompanyBalance]:
    """One page of companies with their balances, matching `query.text`, sorted as asked."""
    statement = _balances(today, query.text)
    total_count = session.scalar(select(func.count()).select_from(statement.subquery()))
    page = page_within(query.page, total_count, query.per_page)
    rows = session.execute(
        statement.order_by(*_order(statement, query.sort)).limit(query.per_page).offset((page - 1) * query.per_page)
    ).all()
    return Page(rows=[_row(row) for row in rows], total_count=total_count, page=page, per_page=query.per_page)


def most_overdue_companies(session: Session, *, today: date, limit: int) -> list[CompanyBalance]:
    """The `limit` companies whose oldest overdue invoice is the oldest (no count of the rest: the dashboard's list)."""
    statement = _balances(today, "")
    return [_row(row) for row in session.execute(
        statement.order_by(*_order(statement, CompanySort.OLDEST_OVERDUE)).limit(limit))]


def all_company_balances(session: Session, query: CompanyQuery, *, today: date):
    """Every row `company_balances` would page through, in the same order, fetched in batches (for CSV)."""
    statement = _balances(today, query.text)
    for row in session.execute(statement.order_by(*_order(statement, query.sort))
                               .execution_options(yield_per=1000)):
        yield _row(row)


def _balances(today: date, text: str) -> Select:
    owed = (
        select(Invoice.company_id, Invoice.currency, *(sum_.label(f"bucket_{n}") for n, sum_ in
                                                        enumerate(aging_sums(today))),
               func.count().label("open_count"),
               func.count().filter(Invoice.due_date < today).label("overdue_count"),
               func.min(Invoice.due_date).filter(Invoice.due_date < today).label("oldest_overdue"))
        .where(open_invoice_condition())
        .group_by(Invoice.company_id, Invoice.currency)
        .subquery()
    )
    statement = (
        select(Company, func.coalesce(owed.c.currency, Company.currency).label("currency"),
               *(owed.c[f"bucket_{n}"] for n in range(5)),
               func.coalesce(owed.c.open_count, 0), func.coalesce(owed.c.overdue_count, 0), owed.c.oldest_overdue,
               (func.coalesce(owed.c.bucket_0, 0) + func.coalesce(owed.c.bucket_1, 0)
                + func.coalesce(owed.c.bucket_2, 0) + func.coalesce(owed.c.bucket_3, 0)
                + func.coalesce(owed.c.bucket_4, 0)).label("balance"))
        .outerjoin(owed, owed.c.company_id == Company.id)
    )
    needle = text.strip().lower()
    if needle:
        statement = statement.where(or_(func.lower(Company.name).contains(needle, autoescape=True),
                                        func.lower(Company.external_ref).contains(needle, autoescape=True)))
    return statement


def _order(statement: Select, sort: CompanySort):
    columns = statement.selected_columns
    by_name = (func.lower(Company.name), Company.id, columns.currency)
    if sort == CompanySort.BALANCE:
        return (columns.balance.desc(), *by_name)
    if sort == CompanySort.OLDEST_OVERDUE:
        # Companies with nothing overdue last, in the same order on SQLite and PostgreSQL.
        no_overdue = columns.oldest_overdue.is_(None)
        return (no_overdue, columns.oldest_overdue, columns.balance.desc(), *by_name)
    return by_name


def _row(row) -> CompanyBalance:
    company, currency, *buckets, open_count, overdue_count, oldest_overdue, _balance = row
    return CompanyBalance(company=company, currency=currency, aging=aging_from(buckets), open_count=int(open_count),
                          overdue_count=int(overdue_count), oldest_overdue=oldest_overdue)




def company_summary(session: Session, company_id: int, *, today: date) -> list[CompanyBalance]:
    """One company's balance and aging, a row per currency it owes in (one row at zero when it owes nothing)."""
    statement = _balances(today, "").where(Company.id == company_id)
    return [_row(row) for row in session.execute(statement.order_by(statement.selected_columns.currency))]


COMPANY_COLUMNS = ("company_ref", "company_name", "currency", "balance", "current", "days_1_30", "days_31_60",
                   "days_61_90", "over_90", "open_invoices", "overdue_invoices", "oldest_overdue_due_date")


def company_balances_csv(rows) -> Iterator[str]:
    """`rows` (as `all_company_balances` yields them) as CSV chunks."""
    return csv_chunks(COMPANY_COLUMNS, (
        (row.company.external_ref, row.company.name, row.currency, to_decimal(row.balance, row.currency),
         *(to_decimal(amount, row.currency) for _key, amount in row.aging.buckets()), row.open_count,
         row.overdue_count, row.oldest_overdue.isoformat() if row.oldest_overdue else "")
        for row in rows))
