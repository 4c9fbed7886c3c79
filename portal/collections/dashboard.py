"""The collections dashboard's figures: what is owed, how late, how fast customers pay.

Every figure is per currency (amounts in different currencies are never added up) and
computed in a fixed number of SQL statements, however many companies and invoices there are.

Aging puts each open invoice's amount due in one bucket by days past its due date:
"current" (not yet due, or due today), 1–30, 31–60, 61–90 and over 90 days late.
Void and draft invoices owe nothing; a disputed invoice still counts, in full, where its
due date puts it: the dispute changes who must act, not what the books say is receivable.

DSO (days sales outstanding) over a period of N days, the simple "end of period" method:

    DSO(N) = receivable today / amount invoiced over the last N days × N

where "receivable today" is the total still due on every open invoice (the sum of the aging
buckets) and "amount invoiced" is the total incl. tax of the invoices issued in the N days
ending today (void ones excepted). It reads: at the pace of the last N days' sales, the
receivable is that many days of sales. With nothing invoiced in the period it is undefined
(None), not zero or infinite. See `days_sales_outstanding`.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from portal.billing.status import open_invoice_condition
from portal.clock import SUPPLIER_TIMEZONE
from portal.models import Dispute, Invoice, Payment, PaymentStatus

#: The periods, in days, the dashboard gives DSO over.
DSO_PERIODS = (30, 90)

#: The aging buckets, in order: (key, first day late, last day late or None for "and beyond").
AGING_BUCKETS = (("current", None, 0), ("days_1_30", 1, 30), ("days_31_60", 31, 60), ("days_61_90", 61, 90),
                 ("over_90", 91, None))


@dataclass(frozen=True)
class Aging:
    """Amounts due by how late they are, in one currency's minor units."""

    current: int = 0
    days_1_30: int = 0
    days_31_60: int = 0
    days_61_90: int = 0
    over_90: int = 0

    @property
    def total(self) -> int:
        return self.current + self.overdue

    @property
    def overdue(self) -> int:
        return self.days_1_30 + self.days_31_60 + self.days_61_90 + self.over_90

    def buckets(self) -> list[tuple[str, int]]:
        """(key, amount) in bucket order, for tables and charts."""
        return [(key, getattr(self, key)) for key, _, _ in AGING_BUCKETS]


@dataclass(frozen=True)
class CurrencyFigures:
    """The dashboard's figures for one currency."""

    currency: str
    aging: Aging
    open_count: int
    overdue_count: int
    invoiced: dict[int, int]  # period in days -> amount invoiced over it
    dso: dict[int, Decimal | None]  # period in days -> DSO over it
    received_today: int = 0
    received_this_week: int = 0
    disputed: int = 0
    disputes_open: int = 0
    # Payments the ledger could not simply place (see portal.payments.queries.payments_needing_attention).
    attention_amount: int = 0
    attention_count: int = 0

    @property
    def receivable(self) -> int:
        return self.aging.total

    @property
    def overdue(self) -> int:
        return self.aging.overdue


@dataclass(frozen=True)
class Dashboard:
    today: date
    currencies: list[CurrencyFigures] = field(default_factory=list)


def aging_sums(today: date) -> list[ColumnElement[int]]:
    """One SUM per aging bucket of the amount due, in bucket order, for a query restricted to
    `open_invoice_condition()` (which makes the amount due simply total less paid and credited)."""
    # Only the columns ix_invoice_open carries, so PostgreSQL sums from the index alone.
    due = Invoice.amount_total - Invoice.amount_paid - Invoice.amount_credited
    sums = []
    for _key, first_day_late, last_day_late in AGING_BUCKETS:
        # An invoice is d days late when its due date is today - d; compare dates, not date arithmetic in SQL.
        conditions = []
        if first_day_late is not None:
            conditions.append(Invoice.due_date <= today - timedelta(days=first_day_late))
        if last_day_late is not None:
            conditions.append(Invoice.due_date >= today - timedelta(days=last_day_late))
        condition = conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]
        sums.append(func.sum(case((condition, due), else_=0)))
    return sums


def aging_from(values) -> Aging:
    """An `Aging` from the row values of `aging_sums` (NULL when no invoice matched reads as 0)."""
    return Aging(*(int(value or 0) for value in values))


def days_sales_outstanding(receivable: int, invoiced: int, days: int) -> Decimal | None:
    """receivable / invoiced × days, to one decimal (half up); None when nothing was invoiced."""
    if invoiced <= 0:
        return None
    return (Decimal(receivable) * days / Decimal(invoiced)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def payment_date() -> ColumnElement[datetime]:
    """The date a payment is listed under: when it succeeded, else when it was started (ix_payment_date)."""
    return func.coalesce(Payment.succeeded_at, Payment.created_at)


def start_of_day(day: date) -> datetime:
    """Midnight at the supplier's: "today" and "this week" are the supplier's calendar days."""
    return datetime.combine(day, time.min, tzinfo=SUPPLIER_TIMEZONE)


def dashboard(session: Session, *, today: date) -> Dashboard:
    """Every figure of the dashboard, per currency, in currency order."""
    aging_rows = session.execute(
        select(Invoice.currency, *aging_sums(today), func.count(),
               func.sum(case((Invoice.due_date < today, 1), else_=0)))
        .where(open_invoice_condition())
        .group_by(Invoice.currency)
    ).all()
    longest = max(DSO_PERIODS)
    invoiced_rows = session.execute(
        select(Invoice.currency, *(
            func.sum(case((Invoice.issue_date > today - timedelta(days=days), Invoice.amount_total), else_=0))
            for days in DSO_PERIODS))
        .where(Invoice.issued_at.is_not(None), Invoice.voided_at.is_(None),
               Invoice.issue_date > today - timedelta(days=longest), Invoice.issue_date <= today)
        .group_by(Invoice.currency)
    ).all()
    week_start = today - timedelta(days=today.weekday())
    received_rows = session.execute(
        select(Payment.currency,
               func.sum(case((Payment.succeeded_at >= start_of_day(today), Payment.amount), else_=0)),
               func.sum(Payment.amount))
        # On the payment's date (ix_payment_date): a succeeded payment's is when it succeeded.
        .where(Payment.status == PaymentStatus.SUCCEEDED, payment_date() >= start_of_day(week_start),
               payment_date() < start_of_day(today + timedelta(days=1)))
        .group_by(Payment.currency)
    ).all()
    dispute_rows = session.execute(
        select(Dispute.currency, func.sum(Dispute.disputed_amount), func.count())
        .where(Dispute.is_active).group_by(Dispute.currency)
    ).all()

    attention_rows = session.execute(
        select(Payment.currency, func.sum(Payment.amount), func.count())
        .where(Payment.attention.is_not(None), Payment.attention_cleared_at.is_(None))
        .group_by(Payment.currency)
    ).all()

    aging = {currency: (aging_from(values[:5]), int(values[5]), int(values[6] or 0))
             for currency, *values in aging_rows}
    invoiced = {currency: [int(value or 0) for value in values] for currency, *values in invoiced_rows}
    received = {currency: (int(today_sum or 0), int(week_sum or 0)) for currency, today_sum, week_sum in received_rows}
    disputes = {currency: (int(amount or 0), int(count)) for currency, amount, count in dispute_rows}
    attention = {currency: (int(amount or 0), int(count)) for currency, amount, count in attention_rows}

    figures = []
    for currency in sorted(set(aging) | set(invoiced) | set(received) | set(disputes) | set(attention)):
        currency_aging, open_count, overdue_count = aging.get(currency, (Aging(), 0, 0))
        by_period = dict(zip(DSO_PERIODS, invoiced.get(currency, [0] * len(DSO_PERIODS))))
        received_today, received_this_week = received.get(currency, (0, 0))
        disputed, disputes_open = disputes.get(currency, (0, 0))
        attention_amount, attention_count = attention.get(currency, (0, 0))
        figures.append(CurrencyFigures(
            currency=currency, aging=currency_aging, open_count=open_count, overdue_count=overdue_count,
            invoiced=by_period,
            dso={days: days_sales_outstanding(currency_aging.total, amount, days) for days, amount in by_period.items()},
            received_today=received_today, received_this_week=received_this_week,
            disputed=disputed, disputes_open=disputes_open,
            attention_amount=attention_amount, attention_count=attention_count,
        ))
    return Dashboard(today=today, currencies=figures)
