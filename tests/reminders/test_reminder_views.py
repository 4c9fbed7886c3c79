"""The reminder pages: staff set the schedules and read the history; clerks see when they were last reminded."""

from datetime import date, timedelta

import pytest

from portal.reminders.policy import company_schedule, default_schedule
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import visible_text

TODAY = date.today()


@pytest.fixture
def staff_client(client, login_as, make):
    login_as(make.staff(locale="en"))
    set_language(client, "en")
    return client


def test_staff_change_the_default_schedule_and_a_bad_one_is_refused_in_words(db, staff_client):
    saved = staff_client.post("/collections/reminders", data={"notice_days": "5", "reminder_days": "30, 2, 15"})
    refused = staff_client.post("/collections/reminders", data={"notice_days": "", "reminder_days": "3, 3"})
    nonsense = staff_client.post("/collections/reminders", data={"notice_days": "99", "reminder_days": "soon"})

    assert saved.status_code == 303
    schedule = default_schedule(db)
    assert (schedule.notice_days, schedule.reminder_days) == (5, (2, 15, 30))
    assert refused.status_code == 400 and "Each reminder day may appear only once." in visible_text(refused)
    assert nonsense.status_code == 400
    assert "whole numbers of days after the due date" in visible_text(nonsense)
    assert "Number must be between 1 and 60." in visible_text(nonsense)
    assert 'value="2, 15, 30"' in staff_client.get("/collections/reminders").get_data(as_text=True)


def test_staff_pause_a_company_or_give_it_its_own_schedule(db, make, staff_client):
    company = make.company(ref="CUST-SCHED", name="Schedule SARL")
    db.commit()
    url = "/collections/companies/CUST-SCHED/reminders"

    paused = staff_client.post(url, data={"paused": "y", "schedule": "default"})
    assert paused.status_code == 303 and company_schedule(db, company.id).paused
    assert "Paused" in visible_text(staff_client.get(url))

    own = staff_client.post(url, data={"schedule": "own", "notice_days": "2", "reminder_days": "1, 20"})
    schedule = company_schedule(db, company.id)
    assert own.status_code == 303 and not schedule.paused and schedule.steps == (-2, 1, 20)
    assert staff_client.post(url, data={"schedule": "own", "reminder_days": ""}).status_code == 400
    assert staff_client.get("/collections/companies/CUST-NOBODY/reminders").status_code == 404


def test_after_a_run_staff_and_clerks_see_the_reminder(db, make, client, login_as, remind):
    company = make.company(ref="CUST-SEEN", locale="en")
    clerk = make.user(company)
    invoice = make.invoice(company, number="INV-SEEN-1", total=42_00, issue_date=TODAY - timedelta(days=40),
                           due_date=TODAY - timedelta(days=3))
    db.commit()
    remind(TODAY)

    login_as(make.staff(locale="en"))
    set_language(client, "en")
    history = visible_text(client.get("/collections/companies/CUST-SEEN/reminders"))
    assert "INV-SEEN-1" in history and "Reminder, 3 days late" in history and "€42.00" in history
    assert "Reminders sent" in visible_text(client.get(f"/collections/invoices/{invoice.id}"))
    assert "CUST-SEEN" in client.get("/collections/reminders").get_data(as_text=True)

    client.post("/logout")
    login_as(clerk)
    set_language(client, "en")
    reminded = f'data-reminded-on="{TODAY.isoformat()}"'
    assert reminded in client.get("/invoices").get_data(as_text=True)
    assert reminded in client.get("/invoices", headers={"HX-Request": "true"}).get_data(as_text=True)
    detail = client.get(f"/invoices/{invoice.id}")
    assert reminded in detail.get_data(as_text=True) and "Last reminder" in visible_text(detail)
    assert "Payment reminder e-mailed" in visible_text(detail)  # the invoice's timeline, in words
