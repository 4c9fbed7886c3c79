"""The collections team's autopay page: every company's state, the run's last activity, and every
charge autopay could not make, with its reason in words, newest first."""

import pytest
from sqlalchemy import select

from portal import clock
from portal.autopay.enrolment import cancel
from portal.autopay.run import run_autopay
from portal.blueprints.app_services import services
from portal.models import AutopayAttempt, AutopayEnrolment, AutopayStatus, Role
from portal.payments import fake_gateway
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import page, table_rows, visible_text
from tests.blueprints.test_autopay_views import enrolled, save_card


@pytest.fixture
def enrol(app, make, client, login_as):
    """Put `company` on autopay through its pages, with a card that behaves like `number`."""

    def enrol_company(company, number: str = fake_gateway.SUCCEEDS, **terms):
        payer = make.user(company, role=Role.ADMIN)
        card = save_card(app, make, company, payer, number)
        login_as(payer)
        set_language(client, "en")
        enrolled(client, card, **terms)
        client.post("/logout")
        client.get("/login")  # the sign-out message is shown, and used up
        return payer

    return enrol_company


@pytest.fixture
def companies(app, db, make, enrol):
    """Four companies: on autopay with a card that is declined, on with a maximum, paused, and off after being on."""
    today = clock.today()
    declined = make.company(name="Alpha Widgets SAS", ref="CUST-ALPHA", locale="en")
    capped = make.company(name="Bravo Bakery SAS", ref="CUST-BRAVO", locale="en")
    paused = make.company(name="Charlie Tools SAS", ref="CUST-CHARLIE", locale="en")
    stopped = make.company(name="Delta Foods SAS", ref="CUST-DELTA", locale="en")
    make.invoice(declined, total=70_00, number="INV-DECLINED", due_date=today)
    make.invoice(capped, total=900_00, number="INV-ABOVE", due_date=today)
    disputed = make.invoice(capped, total=40_00, number="INV-DISPUTED", due_date=today)
    enrol(declined, fake_gateway.DECLINED_ON_CHARGE)
    capped_payer = enrol(capped, maximum="500", days=2)
    enrol(paused)
    stopper = enrol(stopped)
    with app.app_context():
        make.dispute(services().disputes, disputed, capped_payer)
    enrolment = db.scalar(select(AutopayEnrolment).where(AutopayEnrolment.company_id == paused.id))
    enrolment.status, enrolment.paused_reason = AutopayStatus.PAUSED, "expired_card"
    cancel(db, stopper, company=stopped)
    db.commit()
    with app.app_context():
        run_autopay(db, services_of(app).autopay, as_of=today)
    return declined, capped, paused, stopped


@pytest.fixture
def staff_client(make, client, login_as):
    login_as(make.staff(locale="en"))
    set_language(client, "en")
    return client


def test_each_companys_autopay_state(companies, staff_client):
    response = staff_client.get("/collections/autopay")

    assert response.status_code == 200
    rows = {row[0]: row for row in table_rows(response, "autopay-companies")}
    assert rows["Alpha Widgets SAS CUST-ALPHA"][1:3] == ["On", "Visa •••• 0341"]
    assert rows["Bravo Bakery SAS CUST-BRAVO"][4:6] == ["2", "€500.00"]
    assert rows["Charlie Tools SAS CUST-CHARLIE"][1] == "Paused The card has expired"
    assert rows["Delta Foods SAS CUST-DELTA"][1] == "Off"
    assert rows["Delta Foods SAS CUST-DELTA"][3].startswith("stopped on ")
    assert rows["Alpha Widgets SAS CUST-ALPHA"][6], "the run's last activity for the company"
    assert "The autopay run last did something on" in visible_text(response)


def test_every_charge_not_made_with_its_reason_newest_first(db, companies, staff_client):
    response = staff_client.get("/collections/autopay")

    rows = table_rows(response, "autopay-attempts")
    reasons = {row[2]: row[3:] for row in rows}
    assert reasons["INV-DECLINED"][:3] == ["1", "Declined next try " + reasons["INV-DECLINED"][1].split("next try ")[1],
                                           "The card was declined"]
    assert reasons["INV-ABOVE"] == ["—", "Not charged", "Above the maximum: waiting for the customer's approval"]
    assert reasons["INV-DISPUTED"] == ["—", "Not charged", "The invoice is disputed"]
    shown_order = [int(row.attrs["data-attempt"]) for row in
                   page(response).find("table", class_="autopay-attempts").find("tbody").find_all("tr")]
    attempts = {attempt.id: attempt for attempt in db.scalars(select(AutopayAttempt))}
    assert [(attempts[i].updated_at, i) for i in shown_order] == sorted(
        [(attempts[i].updated_at, i) for i in shown_order], reverse=True)


def test_before_any_run_the_page_says_so(make, staff_client):
    make.company(name="Echo SAS")

    text = visible_text(staff_client.get("/collections/autopay"))

    assert "The autopay run has not done anything yet." in text
    assert "Autopay has not failed to charge anything." in text


def test_the_page_in_french(companies, staff_client):
    set_language(staff_client, "fr")

    text = visible_text(staff_client.get("/collections/autopay"))

    for french in ("Refusée", "Suspendu", "La carte a été refusée", "Au-delà du maximum", "Dernière activité"):
        assert french in text
    for english in ("Customers", "The card was declined", "Not charged", "Declined", "Last run activity"):
        assert english not in text


def test_staff_see_the_link_in_their_navigation(staff_client):
    nav = page(staff_client.get("/collections/")).find("nav")

    assert nav.find("a", href="/collections/autopay").text == "Autopay"
