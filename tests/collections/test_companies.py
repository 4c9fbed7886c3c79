"""The companies list: per-company aging, search, the two sorts, pages."""

from datetime import date

from portal.collections.companies import CompanyQuery, CompanySort, all_company_balances, company_balances
from portal.collections.dashboard import Aging
from tests.collections.conftest import TODAY


def listed(db, **query):
    return company_balances(db, CompanyQuery(**query), today=TODAY)


def test_each_company_has_its_aging_balance_and_oldest_overdue_invoice(ledger, db):
    rows = {row.company.external_ref: row for row in listed(db).rows}

    alpha, bravo = rows["CUST-ALPHA"], rows["CUST-BRAVO"]
    assert alpha.aging == Aging(current=990_00, days_1_30=1_500_00, days_61_90=3_000_00, over_90=300_00)
    assert (alpha.balance, alpha.open_count, alpha.overdue_count, alpha.oldest_overdue) == (
        5_790_00, 4, 3, date(2026, 7, 1))
    assert bravo.aging == Aging(current=250_00, days_1_30=700_00, days_31_60=800_00, days_61_90=900_00,
                                over_90=100_00)
    assert (bravo.balance, bravo.open_count, bravo.overdue_count, bravo.oldest_overdue) == (
        2_750_00, 5, 4, date(2026, 8, 26))
    assert (rows["CUST-CHARLIE"].currency, rows["CUST-CHARLIE"].balance) == ("USD", 100_00)
    assert (rows["CUST-DELTA"].currency, rows["CUST-DELTA"].balance, rows["CUST-DELTA"].oldest_overdue) == (
        "EUR", 0, None)


def test_sorted_by_balance_or_by_oldest_overdue_invoice(ledger, db):
    def refs(sort):
        return [row.company.external_ref for row in listed(db, sort=sort).rows]

    assert refs(CompanySort.BALANCE) == ["CUST-ALPHA", "CUST-BRAVO", "CUST-CHARLIE", "CUST-DELTA"]
    # Nothing overdue goes last, largest balance first among those.
    assert refs(CompanySort.OLDEST_OVERDUE) == ["CUST-ALPHA", "CUST-BRAVO", "CUST-CHARLIE", "CUST-DELTA"]
    assert refs(CompanySort.NAME) == ["CUST-ALPHA", "CUST-BRAVO", "CUST-CHARLIE", "CUST-DELTA"]


def test_oldest_overdue_first_even_when_its_balance_is_smaller(make, db):
    small_but_old = make.company(name="Zulu Small")
    make.invoice(small_but_old, total=10_00, issue_date=date(2026, 1, 1), due_date=date(2026, 2, 1))
    big_but_recent = make.invoice(make.company(name="Yankee Big"), total=9_000_00, issue_date=date(2026, 10, 1),
                                  due_date=date(2026, 11, 1)).company

    by_balance = [row.company.id for row in listed(db, sort=CompanySort.BALANCE).rows]
    by_age = [row.company.id for row in listed(db, sort=CompanySort.OLDEST_OVERDUE).rows]

    assert by_balance == [big_but_recent.id, small_but_old.id]
    assert by_age == [small_but_old.id, big_but_recent.id]


def test_search_finds_part_of_a_name_or_reference_in_any_case(ledger, db):
    assert [row.company.name for row in listed(db, text="bRAVO").rows] == ["Bravo Logistics"]
    assert [row.company.name for row in listed(db, text="cust-ch").rows] == ["Charlie Inc."]
    assert listed(db, text="100%").rows == []


def test_pages_and_the_full_list_agree(ledger, db):
    first, second = listed(db, per_page=3), listed(db, per_page=3, page=2)
    beyond = listed(db, per_page=3, page=99)

    assert (first.total_count, first.page_count, second.has_next) == (4, 2, False)
    assert [row.company.id for row in first.rows + second.rows] == [
        row.company.id for row in all_company_balances(db, CompanyQuery(), today=TODAY)]
    assert beyond.page == 2
