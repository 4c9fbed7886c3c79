"""The invoice list served from its cache is never stale: every kind of change shows at the next GET.

Each test first GETs the list (which fills the cache and gives an ETag), makes one kind of
change through the service that makes it in the portal, commits as a request does, then
GETs again: the page shows the new state, and the old ETag no longer matches. Each runs twice:
with the cache in the process's memory, and shared through a Redis server as several
processes share it.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portal.audit import Actor
from portal.billing.invoices import LineInput, create_invoice, void_invoice
from portal.disputes.service import post_message
from portal.models import AutopayEnrolment, Refund, RefundStatus, ReminderEmail, ReminderItem, Role, SavedCard
from portal.page_cache import MemoryPageCache, RedisPageCache
from tests.blueprints.pages import listed_invoice_numbers, page, table_rows, visible_text

HTMX = {"HX-Request": "true"}
ACTOR = Actor.system("tests")


@pytest.fixture(params=["memory", "redis"])
def app_overrides(request) -> dict:
    if request.param == "redis":
        return {"ACQUIT_PAGE_CACHE_URL": request.getfixturevalue("redis_url")}
    return {}


def test_the_cache_is_the_one_configured(app, app_overrides):
    expected = RedisPageCache if app_overrides else MemoryPageCache
    assert isinstance(app.extensions["acquit.page_cache"], expected)


@pytest.mark.parametrize("app_overrides", ["redis"], indirect=True)
def test_a_page_is_served_from_the_shared_cache_while_nothing_changes(client, app_overrides, seen):
    import redis

    shared = redis.Redis.from_url(app_overrides["ACQUIT_PAGE_CACHE_URL"])
    # What any process rendered of the list, as the next request will find it: marked, to see it read back.
    for key in shared.scan_iter("acquit:page:*"):
        value = shared.get(key).decode()
        if "INV-CACHE-1" in value:
            shared.set(key, value.replace("INV-CACHE-1", "INV-FROM-REDIS"))
    assert "INV-FROM-REDIS" in client.get("/invoices").get_data(as_text=True)


@pytest.fixture
def clerk(make):
    return make.user(make.company(locale="en"), role=Role.ADMIN, locale="en")


@pytest.fixture
def invoice(make, clerk):
    today = date.today()
    return make.invoice(clerk.company, number="INV-CACHE-1", total=12_000, issue_date=today - timedelta(days=5),
                        due_date=today + timedelta(days=25))


def _shown(response) -> str:
    """What the list shows of the invoices: "what you owe", then each row's cells."""
    rows = table_rows(response, "invoices")
    return page(response).find("section", class_="owed").text + " || " + " | ".join(" / ".join(row) for row in rows)


def _look(client) -> tuple[str, str]:
    response = client.get("/invoices")
    assert response.status_code == 200
    return _shown(response), response.headers["ETag"]


@pytest.fixture
def seen(client, login_as, clerk, invoice, db):
    """The list as the clerk saw it before the change: (what it showed, ETag), after a first GET filled the cache."""
    db.commit()
    login_as(clerk)
    shown, etag = _look(client)
    assert client.get("/invoices", headers={"If-None-Match": etag}).status_code == 304
    return shown, etag


def _after(client, seen, db) -> str:
    """Commit the change as a request would, then GET the list: what it shows, after checking the old ETag is gone."""
    db.commit()
    shown, etag = seen
    again = client.get("/invoices", headers={"If-None-Match": etag})
    assert again.status_code == 200, "the browser's copy from before the change was declared current"
    assert again.headers["ETag"] != etag
    fragment = client.get("/invoices", headers=HTMX)
    assert listed_invoice_numbers(fragment) == listed_invoice_numbers(again)
    assert visible_text(fragment) in visible_text(again)
    return _shown(again)


def test_a_new_invoice(client, db, make, clerk, seen):
    create_invoice(db, ACTOR, company=clerk.company, number="INV-CACHE-NEW", issue_date=date.today(),
                   due_date=date.today() + timedelta(days=30), currency="EUR",
                   lines=[LineInput(description="More", quantity=Decimal(1), unit_amount=500, tax_rate=Decimal(0))])
    assert "INV-CACHE-NEW" in _after(client, seen, db)


def test_an_invoice_updated(client, db, invoice, seen):
    invoice.po_number = "PO-CHANGED-7"
    assert "PO-CHANGED-7" in _after(client, seen, db)


def test_an_invoice_voided(client, db, invoice, seen):
    void_invoice(db, ACTOR, invoice, reason="Issued in error")
    assert "/ Void /" in _after(client, seen, db) and "/ Void /" not in seen[0]


def test_a_payment(client, db, make, invoice, seen):
    make.payment(invoice, 12_000)
    assert "/ Paid /" in _after(client, seen, db)


def test_a_part_payment_changes_what_is_due_and_what_you_owe(client, db, make, invoice, seen):
    make.payment(invoice, 2_000)
    shown = _after(client, seen, db)
    assert "€100.00" in shown and "€100.00" not in seen[0]


def test_a_credit_note(client, db, make, invoice, seen):
    make.credit_note(invoice, 1_000)
    assert "Reduced by a credit note" in _after(client, seen, db)


def test_a_refund(client, db, make, invoice, seen):
    payment = make.payment(invoice, 12_000)
    db.commit()
    # A refund's own row: what the collections team's refund writes (and the balance it reopens).
    seen = _look(client)
    allocation = payment.allocations[0]
    db.add(Refund(payment_id=payment.id, allocation_id=allocation.id, amount=12_000, status=RefundStatus.SUCCEEDED,
                  idempotency_key="refund-cache-test", reason="Returned goods"))
    invoice.amount_paid = 0
    assert "/ Paid /" in seen[0] and "/ Paid /" not in _after(client, seen, db)


def test_a_dispute_and_its_messages(client, db, make, app, clerk, invoice, seen):
    from portal.blueprints.app_services import services

    with app.app_context():
        context = services().disputes
    dispute = make.dispute(context, invoice, clerk)
    assert "/ Disputed" in _after(client, seen, db)
    seen = _look(client)
    post_message(db, context, clerk, dispute, body="Here is the delivery note.")
    _after(client, seen, db)


def test_a_reminder_sent(client, db, clerk, invoice, seen):
    email = ReminderEmail(company_id=clerk.company.id, sent_on=date.today(), recipients=["ap@customer.test"])
    email.items.append(ReminderItem(invoice_id=invoice.id, step=1, amount_asked=12_000, currency="EUR"))
    db.add(email)
    assert "Reminded on" in _after(client, seen, db) and "Reminded on" not in seen[0]


def test_autopay_turned_on(client, db, clerk, invoice, seen):
    card = SavedCard(company_id=clerk.company.id, provider_id="pm_cache_test", brand="visa", last4="4242",
                     exp_month=12, exp_year=date.today().year + 2, is_default=True)
    db.add(card)
    db.flush()
    db.add(AutopayEnrolment(company_id=clerk.company.id, saved_card_id=card.id, covers_from=date.today(),
                            mandate_text="Charge on the due date.", accepted_by_user_id=clerk.id,
                            accepted_ip="127.0.0.1"))
    assert "Autopay on" in _after(client, seen, db) and "Autopay on" not in seen[0]


def test_a_rolled_back_change_leaves_the_page_and_its_etag(client, db, invoice, seen):
    invoice.po_number = "PO-NEVER"
    db.rollback()
    response = client.get("/invoices", headers={"If-None-Match": seen[1]})
    assert response.status_code == 304


def test_each_role_and_language_gets_its_own_rendering(client, db, make, login_as, clerk, invoice, seen):
    assert client.get("/invoices").get_data(as_text=True).count('name="invoice"') == 1, "the admin may tick it to pay"
    viewer = make.user(clerk.company, role=Role.VIEWER, locale="en")
    db.commit()
    client.post("/logout")
    login_as(viewer)
    assert 'name="invoice"' not in client.get("/invoices").get_data(as_text=True)
    french = client.get("/invoices?lang=fr")
    assert "Échéance" in visible_text(french) or "échéance" in visible_text(french)
    assert listed_invoice_numbers(french) == ["INV-CACHE-1"]


def test_a_304_keeps_the_policy_the_page_came_with(client, seen):
    not_modified = client.get("/invoices", headers={"If-None-Match": seen[1]})
    assert not_modified.status_code == 304 and not_modified.get_data() == b""
    assert "Content-Security-Policy" not in not_modified.headers
    assert not_modified.headers["Cache-Control"] == "private, no-cache"


def test_a_message_waiting_to_be_shown_is_never_answered_304(client, seen):
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Your fields are saved.")]
    response = client.get("/invoices", headers={"If-None-Match": seen[1]})
    assert response.status_code == 200 and "Your fields are saved." in visible_text(response)


def test_the_invoice_pdf_has_an_etag_that_follows_the_invoice(client, db, make, invoice, seen):
    first = client.get(f"/invoices/{invoice.id}/pdf")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    assert client.get(f"/invoices/{invoice.id}/pdf",
                      headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    make.payment(invoice, 12_000)
    db.commit()
    again = client.get(f"/invoices/{invoice.id}/pdf", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and again.data.startswith(b"%PDF")
