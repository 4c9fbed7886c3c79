"""A company's data version changes with everything its pages show, at commit, and never comes back."""

from datetime import date

from sqlalchemy import insert

from portal.audit import Actor
from portal.billing.data_version import company_data_changed, current_data_version
from portal.billing.invoices import issue_credit_note, void_invoice
from portal.models import CustomFieldLabel, Invoice


def _version(db, company) -> str:
    return current_data_version(db, company.id)


def test_a_company_starts_with_a_random_version_of_its_own(db, make):
    first, second = make.company(), make.company()
    assert len(_version(db, first)) == 32
    assert _version(db, first) != _version(db, second)


def test_a_change_takes_a_new_version_when_it_commits_and_only_for_its_company(db, make):
    company, neighbour = make.company(), make.company()
    db.commit()
    before, neighbour_before = _version(db, company), _version(db, neighbour)
    make.invoice(company)
    assert _version(db, company) == before, "flushed, not yet committed"
    db.commit()
    assert _version(db, company) != before
    assert _version(db, neighbour) == neighbour_before
    assert company.data_version == _version(db, company), "the company the session holds shows its new version"


def test_a_rolled_back_change_leaves_the_version_and_the_next_one_is_new(db, make):
    company = make.company()
    invoice = make.invoice(company)
    db.commit()
    before = _version(db, company)
    void_invoice(db, Actor.system("tests"), invoice, reason="Issued in error")
    db.rollback()
    assert _version(db, company) == before
    make.credit_note(invoice, 100)
    db.commit()
    after = _version(db, company)
    assert after != before
    issue_credit_note(db, Actor.system("tests"), invoice=invoice, number="CN-AGAIN", amount=100,
                      issue_date=date.today())
    db.commit()
    assert _version(db, company) not in (before, after)


def test_rows_reached_through_their_invoice_change_the_version(db, make):
    company = make.company()
    invoice = make.invoice(company)
    db.commit()
    before = _version(db, company)
    make.payment(invoice, 1_000)  # a payment and its allocation
    db.commit()
    assert _version(db, company) != before


def test_a_bulk_write_marks_its_companies_itself(db, make):
    company = make.company()
    db.commit()
    before = _version(db, company)
    db.execute(insert(Invoice), [{
        "company_id": company.id, "number": "BULK-1", "issue_date": date(2026, 1, 1), "due_date": date(2026, 2, 1),
        "currency": "EUR", "amount_net": 100, "amount_tax": 0, "amount_total": 100, "amount_paid": 0,
        "amount_credited": 0, "custom_fields": {},
    }])
    db.commit()
    assert _version(db, company) == before, "a bulk INSERT is not seen by the flush"
    company_data_changed(db, [company.id])
    db.commit()
    assert _version(db, company) != before


def test_a_label_every_company_reads_changes_every_version(db, make):
    first, second = make.company(), make.company()
    db.commit()
    before = (_version(db, first), _version(db, second))
    db.add(CustomFieldLabel(field_key="site", locale="fr", label="Site"))
    db.commit()
    assert _version(db, first) != before[0] and _version(db, second) != before[1]
