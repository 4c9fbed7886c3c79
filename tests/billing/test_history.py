"""A customer's invoice history: scoping, filters, sorting, pages, the amount owed, the detail."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from portal.audit import Actor
from portal.billing.errors import InvoiceNotFound
from portal.billing.history import (
    HistoryQuery,
    SortKey,
    amount_owed,
    customer_invoices,
    find_customer_invoice,
    invoice_history,
    invoice_settlements,
    invoice_timeline,
)
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, void_invoice
from portal.billing.status import InvoiceStatus
from portal.models import Payment, PaymentAllocation, PaymentStatus
from portal.payments.ledger import record_offline_payment

TODAY = date(2026, 6, 15)
ACTOR = Actor.system("tests")


def _history(db, company, **query):
    return invoice_history(db, company.id, HistoryQuery(**query), today=TODAY, currency=company.currency)


def _numbers(page) -> list[str]:
    return [row.invoice.number for row in page.rows]


def _invoice(make, company, number, *, total=10_000, issue_date=TODAY - timedelta(days=10), **kwargs):
    return make.invoice(company, number=number, total=total, issue_date=issue_date, **kwargs)


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


# --- Scoping -------------------------------------------------------------------------------


def test_customer_invoices_holds_the_company_issued_invoices(db, make):
    company = make.company()
    first = _invoice(make, company, "INV-A-1")
    second = _invoice(make, company, "INV-A-2")
    assert set(db.scalars(customer_invoices(company.id))) == {first, second}


def test_customer_invoices_never_holds_another_company_invoices(db, make):
    company, neighbour = make.company(), make.company()
    _invoice(make, neighbour, "INV-THEIRS")
    assert list(db.scalars(customer_invoices(company.id))) == []


def test_customer_invoices_never_holds_drafts(db, make):
    company = make.company()
    _invoice(make, company, "INV-DRAFT", issue=False)
    assert list(db.scalars(customer_invoices(company.id))) == []


def test_customer_invoices_keeps_void_invoices_visible(db, make):
    company = make.company()
    invoice = _invoice(make, company, "INV-VOID")
    void_invoice(db, ACTOR, invoice, "Duplicate")
    assert list(db.scalars(customer_invoices(company.id))) == [invoice]


def test_find_customer_invoice_returns_the_company_own_invoice(db, make):
    company = make.company()
    invoice = _invoice(make, company, "INV-MINE")
    assert find_customer_invoice(db, company.id, invoice.id) is invoice


def test_find_customer_invoice_raises_not_found_for_another_company_invoice(db, make):
    company, neighbour = make.company(), make.company()
    theirs = _invoice(make, neighbour, "INV-THEIRS")
    with pytest.raises(InvoiceNotFound):
        find_customer_invoice(db, company.id, theirs.id)


def test_find_customer_invoice_raises_not_found_for_a_draft(db, make):
    company = make.company()
    draft = _invoice(make, company, "INV-DRAFT", issue=False)
    with pytest.raises(InvoiceNotFound):
        find_customer_invoice(db, company.id, draft.id)


def test_find_customer_invoice_raises_not_found_for_an_id_that_does_not_exist(db, make):
    company = make.company()
    with pytest.raises(InvoiceNotFound):
        find_customer_invoice(db, company.id, 987_654_321)


def test_invoice_history_never_lists_another_company_or_draft_invoices(db, make):
    company, neighbour = make.company(), make.company()
    _invoice(make, company, "INV-MINE")
    _invoice(make, company, "INV-MINE-DRAFT", issue=False)
    _invoice(make, neighbour, "INV-THEIRS")
    page = _history(db, company)
    assert (_numbers(page), page.total_count) == (["INV-MINE"], 1)


# --- Text search ---------------------------------------------------------------------------


def test_text_search_matches_part_of_the_number_whatever_the_case(db, make):
    company = make.company()
    _invoice(make, company, "INV-2026-ABC")
    _invoice(make, company, "INV-2026-XYZ")
    assert _numbers(_history(db, company, text="abc")) == ["INV-2026-ABC"]


def test_text_search_matches_part_of_the_purchase_order_whatever_the_case(db, make):
    company = make.company()
    _invoice(make, company, "INV-1", po_number="PO-Alpha-77")
    _invoice(make, company, "INV-2", po_number="PO-Beta-88")
    _invoice(make, company, "INV-3")
    assert _numbers(_history(db, company, text="ALPHA")) == ["INV-1"]


def test_text_search_matches_a_custom_field_value_but_not_its_name(db, make):
    company = make.company()
    make.invoice(company, number="INV-1", custom_fields={"cost_centre": "R&D Lyon"})
    make.invoice(company, number="INV-2", custom_fields={"cost_centre": "Boutique Écully"})
    make.invoice(company, number="INV-3")
    assert _numbers(_history(db, company, text="r&d")) == ["INV-1"]
    assert _numbers(_history(db, company, text="ÉCULLY")) == ["INV-2"]
    assert _numbers(_history(db, company, text="cost_centre")) == []


def test_changing_custom_fields_changes_what_the_search_finds(db, make):
    company = make.company()
    invoice = make.invoice(company, number="INV-1", custom_fields={"site": "Lyon"})
    invoice.custom_fields = {"site": "Nantes"}
    db.flush()
    assert _numbers(_history(db, company, text="nantes")) == ["INV-1"]
    assert _numbers(_history(db, company, text="lyon")) == []


def test_text_search_ignores_surrounding_spaces(db, make):
    company = make.company()
    _invoice(make, company, "INV-ABC")
    _invoice(make, company, "INV-XYZ")
    assert _numbers(_history(db, company, text="  abc  ")) == ["INV-ABC"]


def test_text_search_reads_a_percent_sign_literally(db, make):
    company = make.company()
    _invoice(make, company, "INV-DISC", po_number="PO-10%OFF")
    _invoice(make, company, "INV-PLAIN", po_number="PO-10-OFF")
    assert _numbers(_history(db, company, text="10%off")) == ["INV-DISC"]


def test_text_search_for_a_lone_percent_sign_matches_only_what_contains_one(db, make):
    company = make.company()
    _invoice(make, company, "INV-DISC", po_number="PO-10%")
    _invoice(make, company, "INV-PLAIN", po_number="PO-10")
    assert _numbers(_history(db, company, text="%")) == ["INV-DISC"]


def test_text_search_reads_an_underscore_literally(db, make):
    company = make.company()
    _invoice(make, company, "INV_7")
    _invoice(make, company, "INVX7")
    assert _numbers(_history(db, company, text="v_7")) == ["INV_7"]


def test_text_search_matches_an_invoice_total_typed_as_an_amount(db, make):
    company = make.company()
    _invoice(make, company, "INV-RIGHT", total=123_456)
    _invoice(make, company, "INV-WRONG", total=123_457)
    assert _numbers(_history(db, company, text="1 234,56")) == ["INV-RIGHT"]


def test_text_search_matches_the_amount_still_due_typed_as_an_amount(db, make):
    company = make.company()
    invoice = _invoice(make, company, "INV-PART-PAID", total=200_000)
    make.payment(invoice, 76_544)
    _invoice(make, company, "INV-OTHER", total=200_000)
    assert _numbers(_history(db, company, text="1,234.56")) == ["INV-PART-PAID"]


def test_text_search_for_an_amount_ignores_what_void_invoices_would_have_owed(db, make):
    company = make.company()
    void = _invoice(make, company, "INV-VOID", total=200_000)
    make.credit_note(void, 76_544)
    void_invoice(db, ACTOR, void, "Duplicate")
    assert _numbers(_history(db, company, text="1234.56")) == []


# --- Filters -------------------------------------------------------------------------------


@pytest.fixture
def one_of_each_status(db, make):
    """A company with one invoice in each status a customer can see, named after it."""
    company = make.company()
    future, past = TODAY + timedelta(days=10), TODAY - timedelta(days=1)
    issued = TODAY - timedelta(days=40)
    _invoice(make, company, "open", issue_date=issued, due_date=future)
    make.payment(_invoice(make, company, "partially_paid", issue_date=issued, due_date=future), 1_000)
    _invoice(make, company, "overdue", issue_date=issued, due_date=past)
    make.payment(_invoice(make, company, "paid", issue_date=issued, due_date=past), 10_000)
    void_invoice(db, ACTOR, _invoice(make, company, "void", issue_date=issued, due_date=future), "Duplicate")
    _invoice(make, company, "draft", issue_date=issued, due_date=future, issue=False)
    return company


@pytest.mark.parametrize(
    "status",
    [InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.OVERDUE, InvoiceStatus.PAID, InvoiceStatus.VOID],
)
def test_status_filter_keeps_only_invoices_in_that_status(db, one_of_each_status, status):
    page = _history(db, one_of_each_status, status=status)
    assert _numbers(page) == [status.value]
    assert [row.status for row in page.rows] == [status]


def test_status_filter_for_drafts_finds_none_since_customers_never_see_them(db, one_of_each_status):
    assert _numbers(_history(db, one_of_each_status, status=InvoiceStatus.DRAFT)) == []


def test_each_row_carries_its_status_on_the_day_asked(db, one_of_each_status):
    page = _history(db, one_of_each_status)
    assert {row.invoice.number: row.status.value for row in page.rows} == {
        "open": "open", "partially_paid": "partially_paid", "overdue": "overdue", "paid": "paid", "void": "void",
    }


def test_a_void_row_owes_nothing(db, one_of_each_status):
    [row] = _history(db, one_of_each_status, status=InvoiceStatus.VOID).rows
    assert row.amount_due == 0


@pytest.fixture
def issued_across_march(make):
    company = make.company()
    for day in (1, 10, 20, 31):
        _invoice(make, company, f"INV-03-{day:02d}", issue_date=date(2026, 3, day), total=day * 1_000)
    return company


def test_issued_from_includes_invoices_issued_that_day(db, issued_across_march):
    page = _history(db, issued_across_march, issued_from=date(2026, 3, 10), sort=SortKey.ISSUE_DATE, descending=False)
    assert _numbers(page) == ["INV-03-10", "INV-03-20", "INV-03-31"]


def test_issued_to_includes_invoices_issued_that_day(db, issued_across_march):
    page = _history(db, issued_across_march, issued_to=date(2026, 3, 20), sort=SortKey.ISSUE_DATE, descending=False)
    assert _numbers(page) == ["INV-03-01", "INV-03-10", "INV-03-20"]


def test_issued_date_range_keeps_only_invoices_issued_within_it(db, issued_across_march):
    page = _history(db, issued_across_march, issued_from=date(2026, 3, 2), issued_to=date(2026, 3, 30))
    assert sorted(_numbers(page)) == ["INV-03-10", "INV-03-20"]


def test_amount_range_is_inclusive_at_both_ends(db, issued_across_march):
    page = _history(db, issued_across_march, amount_min=10_000, amount_max=20_000)
    assert sorted(_numbers(page)) == ["INV-03-10", "INV-03-20"]


def test_amount_min_alone_keeps_invoices_of_at_least_that_total(db, issued_across_march):
    assert sorted(_numbers(_history(db, issued_across_march, amount_min=20_001))) == ["INV-03-31"]


def test_amount_max_alone_keeps_invoices_of_at_most_that_total(db, issued_across_march):
    assert sorted(_numbers(_history(db, issued_across_march, amount_max=9_999))) == ["INV-03-01"]


def test_filters_combine(db, issued_across_march):
    page = _history(db, issued_across_march, text="inv-03", issued_from=date(2026, 3, 5), amount_max=25_000)
    assert sorted(_numbers(page)) == ["INV-03-10", "INV-03-20"]


# --- Sorting -------------------------------------------------------------------------------


@pytest.fixture
def sortable(make):
    """Three invoices whose order differs under every sort key."""
    company = make.company()
    _invoice(make, company, "INV-B", total=30_000, issue_date=date(2026, 1, 5), due_date=date(2026, 3, 1))
    _invoice(make, company, "INV-C", total=10_000, issue_date=date(2026, 1, 1), due_date=date(2026, 4, 1))
    _invoice(make, company, "INV-A", total=20_000, issue_date=date(2026, 1, 9), due_date=date(2026, 2, 1))
    return company


@pytest.mark.parametrize(
    ("sort", "ascending"),
    [
        (SortKey.DUE_DATE, ["INV-A", "INV-B", "INV-C"]),
        (SortKey.ISSUE_DATE, ["INV-C", "INV-B", "INV-A"]),
        (SortKey.AMOUNT, ["INV-C", "INV-A", "INV-B"]),
        (SortKey.NUMBER, ["INV-A", "INV-B", "INV-C"]),
    ],
)
@pytest.mark.parametrize("descending", [False, True])
def test_history_sorts_by_each_key_in_both_directions(db, sortable, sort, ascending, descending):
    expected = ascending[::-1] if descending else ascending
    assert _numbers(_history(db, sortable, sort=sort, descending=descending)) == expected


def test_history_sorts_by_due_date_latest_first_by_default(db, sortable):
    assert _numbers(_history(db, sortable)) == ["INV-C", "INV-B", "INV-A"]


@pytest.fixture
def five_due_the_same_day(make):
    company = make.company()
    invoices = [
        _invoice(make, company, f"INV-TIE-{n}", total=10_000, due_date=TODAY + timedelta(days=5)) for n in range(5)
    ]
    return company, [invoice.number for invoice in invoices]


@pytest.mark.parametrize("descending", [False, True])
def test_invoices_tied_on_the_sort_key_keep_the_order_they_were_created_in(db, five_due_the_same_day, descending):
    company, created_order = five_due_the_same_day
    for sort in (SortKey.DUE_DATE, SortKey.AMOUNT, SortKey.ISSUE_DATE):
        page = _history(db, company, sort=sort, descending=descending)
        assert _numbers(page) == (created_order[::-1] if descending else created_order)


def test_paging_through_ties_shows_every_invoice_exactly_once(db, five_due_the_same_day):
    company, created_order = five_due_the_same_day
    seen = []
    for page_number in (1, 2, 3):
        seen += _numbers(_history(db, company, sort=SortKey.AMOUNT, descending=False, page=page_number, per_page=2))
    assert seen == created_order


# --- Pages ---------------------------------------------------------------------------------


@pytest.fixture
def twelve_invoices(make):
    company = make.company()
    for n in range(12):
        _invoice(make, company, f"INV-{n:02d}")
    return company


def test_a_page_holds_at_most_per_page_rows_and_counts_them_all(db, twelve_invoices):
    page = _history(db, twelve_invoices, per_page=10, sort=SortKey.NUMBER, descending=False)
    assert (len(page.rows), page.total_count, page.page_count) == (10, 12, 2)
    assert (page.has_previous, page.has_next) == (False, True)


def test_the_last_page_holds_the_rest(db, twelve_invoices):
    page = _history(db, twelve_invoices, per_page=10, page=2, sort=SortKey.NUMBER, descending=False)
    assert _numbers(page) == ["INV-10", "INV-11"]
    assert (page.page, page.has_previous, page.has_next) == (2, True, False)


def test_a_page_beyond_the_last_shows_the_last(db, twelve_invoices):
    page = _history(db, twelve_invoices, per_page=10, page=7, sort=SortKey.NUMBER, descending=False)
    assert (page.page, _numbers(page), page.total_count) == (2, ["INV-10", "INV-11"], 12)


def test_an_empty_history_is_one_empty_page(db, make):
    page = _history(db, make.company(), page=3)
    assert (page.rows, page.total_count, page.page, page.page_count) == ([], 0, 1, 1)


def test_total_count_counts_what_the_filters_keep_not_the_page(db, twelve_invoices):
    page = _history(db, twelve_invoices, text="INV-1", per_page=1)
    assert (len(page.rows), page.total_count) == (1, 2)


# --- Amount owed ---------------------------------------------------------------------------


def _owed(db, company):
    return {owed.currency: owed for owed in amount_owed(db, company.id, today=TODAY)}


def test_amount_owed_sums_what_is_still_due_on_open_invoices(db, make):
    company = make.company()
    _invoice(make, company, "INV-1", total=10_000, due_date=TODAY + timedelta(days=60))
    make.payment(_invoice(make, company, "INV-2", total=5_000, due_date=TODAY + timedelta(days=60)), 2_000)
    owed = _owed(db, company)["EUR"]
    assert (owed.total_due, owed.open_count) == (13_000, 2)


def test_amount_owed_counts_as_overdue_only_what_is_past_its_due_date(db, make):
    company = make.company()
    _invoice(make, company, "INV-LATE", total=7_000, due_date=TODAY - timedelta(days=1))
    _invoice(make, company, "INV-TODAY", total=3_000, due_date=TODAY)
    assert _owed(db, company)["EUR"].overdue == 7_000


def test_amount_owed_counts_as_due_soon_what_falls_due_from_today_to_thirty_days_on(db, make):
    company = make.company()
    _invoice(make, company, "INV-LATE", total=1, due_date=TODAY - timedelta(days=1))
    _invoice(make, company, "INV-TODAY", total=10, due_date=TODAY)
    _invoice(make, company, "INV-DAY-30", total=100, due_date=TODAY + timedelta(days=30))
    _invoice(make, company, "INV-DAY-31", total=1_000, due_date=TODAY + timedelta(days=31))
    owed = _owed(db, company)["EUR"]
    assert (owed.due_soon, owed.total_due) == (110, 1_111)


def test_amount_owed_leaves_out_void_paid_and_draft_invoices(db, make):
    company = make.company()
    _invoice(make, company, "INV-OPEN", total=10_000, due_date=TODAY - timedelta(days=1))
    void_invoice(db, ACTOR, _invoice(make, company, "INV-VOID", total=20_000, due_date=TODAY - timedelta(days=1)), "x")
    make.payment(_invoice(make, company, "INV-PAID", total=40_000, due_date=TODAY - timedelta(days=1)), 40_000)
    _invoice(make, company, "INV-DRAFT", total=80_000, due_date=TODAY - timedelta(days=1), issue=False)
    owed = _owed(db, company)["EUR"]
    assert (owed.total_due, owed.overdue, owed.open_count) == (10_000, 10_000, 1)


def test_amount_owed_is_given_per_currency(db, make):
    company = make.company()
    _invoice(make, company, "INV-EUR", total=10_000)
    create_invoice(
        db, ACTOR, company=company, number="INV-USD", issue_date=TODAY, due_date=TODAY + timedelta(days=5),
        currency="USD", lines=[LineInput(description="x", quantity=Decimal(1), unit_amount=2_500, tax_rate=Decimal(0))],
    )
    owed = _owed(db, company)
    assert {currency: figures.total_due for currency, figures in owed.items()} == {"EUR": 10_000, "USD": 2_500}
    assert owed["USD"].due_soon == 2_500


def test_amount_owed_leaves_out_a_currency_with_nothing_due(db, make):
    company = make.company()
    make.payment(_invoice(make, company, "INV-PAID", total=10_000), 10_000)
    assert amount_owed(db, company.id, today=TODAY) == []


def test_amount_owed_never_counts_another_company_invoices(db, make):
    company, neighbour = make.company(), make.company()
    _invoice(make, company, "INV-MINE", total=10_000)
    _invoice(make, neighbour, "INV-THEIRS", total=99_000)
    assert _owed(db, company)["EUR"].total_due == 10_000


# --- Detail: settlements and timeline ------------------------------------------------------


def test_invoice_settlements_lists_payments_and_credit_notes_oldest_first(db, make):
    company = make.company()
    invoice = _invoice(make, company, "INV-SETTLED", total=10_000)
    record_offline_payment(db, ACTOR, company=company, allocations=[(invoice, 3_000)], method_summary="Bank transfer",
                           reference="TRF-LATE", now=_at(date(2026, 3, 10)))
    issue_credit_note(db, ACTOR, invoice=invoice, number="CN-MID", amount=1_000, issue_date=date(2026, 3, 5),
                      reason="Damaged")
    record_offline_payment(db, ACTOR, company=company, allocations=[(invoice, 2_000)], method_summary="Cheque",
                           reference="TRF-EARLY", now=_at(date(2026, 3, 1)))
    settlements = invoice_settlements(db, invoice)
    assert [(s.kind, s.reference, s.amount, s.on, s.method) for s in settlements] == [
        ("payment", "TRF-EARLY", 2_000, date(2026, 3, 1), "Cheque"),
        ("credit_note", "CN-MID", 1_000, date(2026, 3, 5), "Damaged"),
        ("payment", "TRF-LATE", 3_000, date(2026, 3, 10), "Bank transfer"),
    ]


def test_invoice_settlements_gives_only_the_part_of_a_payment_allocated_to_the_invoice(db, make):
    company = make.company()
    first, second = _invoice(make, company, "INV-1", total=10_000), _invoice(make, company, "INV-2", total=10_000)
    record_offline_payment(db, ACTOR, company=company, allocations=[(first, 4_000), (second, 6_000)],
                           method_summary="Bank transfer", reference="TRF-SPLIT")
    assert [settlement.amount for settlement in invoice_settlements(db, second)] == [6_000]


def test_invoice_settlements_leaves_out_payments_that_have_not_succeeded(db, make):
    company = make.company()
    invoice = _invoice(make, company, "INV-PENDING", total=10_000)
    db.add(Payment(company_id=company.id, amount=10_000, currency="EUR", status=PaymentStatus.PENDING,
                   idempotency_key="pending-1", method_summary="Card",
                   allocations=[PaymentAllocation(invoice=invoice, amount=10_000)]))
    db.flush()
    assert invoice_settlements(db, invoice) == []


def test_invoice_timeline_lists_the_invoice_events_oldest_first(db, make):
    company = make.company()
    created = datetime(2026, 3, 2, 9, tzinfo=UTC)
    invoice = create_invoice(
        db, ACTOR, company=company, number="INV-TIMELINE", issue_date=date(2026, 3, 1),
        due_date=date(2026, 3, 31), currency="EUR", now=created,
        lines=[LineInput(description="x", quantity=Decimal(1), unit_amount=10_000, tax_rate=Decimal(0))],
    )
    record_offline_payment(db, ACTOR, company=company, allocations=[(invoice, 3_000)], method_summary="Bank transfer",
                           now=created + timedelta(days=3))
    issue_credit_note(db, ACTOR, invoice=invoice, number="CN-BACKDATED", amount=1_000, issue_date=date(2026, 3, 1),
                      now=created - timedelta(days=1))
    db.flush()
    assert [event.action for event in invoice_timeline(db, invoice)] == [
        "credit_note.applied", "invoice.created", "invoice.issued", "payment.allocated",
    ]


def test_invoice_timeline_never_shows_another_invoice_events(db, make):
    company = make.company()
    invoice, other = _invoice(make, company, "INV-1"), _invoice(make, company, "INV-2")
    void_invoice(db, ACTOR, other, "Duplicate")
    db.flush()
    assert {event.invoice_id for event in invoice_timeline(db, invoice)} == {invoice.id}
