"""Every staff list page issues the same number of SQL statements for 25 rows as for 100: no N+1."""

from datetime import date, timedelta

import pytest

from tests.blueprints.conftest import english  # noqa: F401  (a fixture)
from tests.blueprints.test_invoice_list_queries import counting_queries
from tests.collections.pages import row_keys

pytestmark = pytest.mark.usefixtures("english")
COMPANIES = 101


@pytest.fixture
def busy_ledger(make, app):
    """101 companies, each with an overdue invoice part paid and an open one; one company has them all."""
    long_ago = date.today() - timedelta(days=100)
    big = make.company(name="Big Buyer", ref="CUST-BIG")
    for n in range(COMPANIES):
        company = make.company(name=f"Customer {n:03d}", ref=f"CUST-{n:03d}")
        make.user(company)
        late = make.invoice(company, total=10_000 + n, issue_date=long_ago, due_date=long_ago + timedelta(days=30),
                            po_number=f"PO-{n}")
        make.payment(late, 1_000)
        make.invoice(company, total=20_000 + n)
        make.payment(make.invoice(big, total=30_000 + n), 500)
    make.session.commit()


@pytest.fixture
def staff_get(make, login_as, busy_ledger, engine):
    client = login_as(make.staff(locale="en"))

    def get(url: str):
        with counting_queries(engine) as statements:
            response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response, statements

    return get


@pytest.mark.parametrize(("url", "small", "attribute"), [
    ("/collections/companies?per_page={}", 25, "data-company"),
    ("/collections/companies?sort=oldest_overdue&q=customer&per_page={}", 25, "data-company"),
    ("/collections/invoices?per_page={}", 10, "data-invoice"),
    ("/collections/invoices?status=overdue&company=cust&per_page={}", 10, "data-invoice"),
    ("/collections/payments?per_page={}", 25, "data-payment"),
    ("/collections/payments?status=succeeded&method=offline&per_page={}", 25, "data-payment"),
    ("/collections/companies/CUST-BIG?per_page={}", 10, "data-invoice"),
])
def test_a_list_issues_the_same_statements_for_few_and_many_rows(staff_get, url, small, attribute):
    few, few_statements = staff_get(url.format(small))
    many, many_statements = staff_get(url.format(100))

    assert len(row_keys(few, attribute)) == small
    assert len(row_keys(many, attribute)) == 100
    assert few_statements, "no statement was counted: is the app still bound to the test connection?"
    assert len(many_statements) == len(few_statements), "\n".join(many_statements)
