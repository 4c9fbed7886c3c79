"""The reminder run with time moved, day by day, e-mailing a real SMTP server."""

import re
from datetime import date, timedelta

from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.invoices import void_invoice
from portal.blueprints.app_services import services
from portal.models import AuditEvent, ReminderItem
from portal.reminders.policy import set_company_schedule, set_default_schedule
from portal.reminders.run import run_reminders
from tests.reminders.conftest import days

DUE = date(2026, 12, 15)


def sent_days(remind, start: date, end: date) -> dict[date, list]:
    """Each day from `start` to `end` on which the run e-mailed something, with what it sent."""
    return {day: received for day in days(start, end) if (received := remind(day))}


def numbers_in(mail) -> list[str]:
    return re.findall(r"^- (\S+), ", mail.text_body(), re.MULTILINE)


def test_notice_seven_days_before_then_reminders_three_ten_and_thirty_days_after(db, make, remind):
    company = make.company(locale="en", billing_emails=["ap@alpha.test", "controller@alpha.test", "shop@alpha.test"])
    company.recipients[2].receives_reminders = False
    invoice = make.invoice(company, total=120_00, due_date=DUE, issue_date=DUE - timedelta(days=30))
    db.commit()

    sent = sent_days(remind, DUE - timedelta(days=20), DUE + timedelta(days=60))

    assert list(sent) == [DUE - timedelta(days=7), DUE + timedelta(days=3), DUE + timedelta(days=10),
                          DUE + timedelta(days=30)]
    subjects = [mails[0].message["Subject"] for mails in sent.values()]
    assert subjects[0] == f"1 invoice coming due for {company.name}"
    assert subjects[1:] == [f"Reminder: 1 invoice overdue for {company.name}"] * 3
    for mails in sent.values():
        assert len(mails) == 1  # one e-mail, to every billing recipient taking reminders
        assert mails[0].recipients == ["ap@alpha.test", "controller@alpha.test"]
        assert numbers_in(mails[0]) == [invoice.number]
        assert "€120.00" in mails[0].text_body()
        assert "http://portal.test/pay/invoices/" in mails[0].text_body()
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "reminder.sent")) == 3


def test_one_email_per_company_lists_every_invoice_at_a_step_that_day(db, make, remind):
    company = make.company(locale="en")
    other = make.company(locale="en")
    overdue = make.invoice(company, total=100_00, due_date=DUE - timedelta(days=3))
    coming = make.invoice(company, total=50_00, due_date=DUE + timedelta(days=7))
    not_yet = make.invoice(company, total=70_00, due_date=DUE + timedelta(days=20))
    elsewhere = make.invoice(other, total=80_00, due_date=DUE - timedelta(days=10))
    db.commit()

    mails = remind(DUE)

    by_recipient = {mail.recipients[0]: mail for mail in mails}
    assert set(by_recipient) == {company.billing_emails[0], other.billing_emails[0]}
    mine = by_recipient[company.billing_emails[0]]
    assert numbers_in(mine) == [overdue.number, coming.number]
    assert not_yet.number not in mine.text_body()
    assert "Pay €150.00 for these invoices at once" in mine.text_body()
    assert numbers_in(by_recipient[other.billing_emails[0]]) == [elsewhere.number]


def test_nothing_after_payment_and_only_the_undisputed_part_of_a_disputed_invoice(db, make, remind, app):
    company = make.company(locale="en")
    clerk = make.user(company)
    paid = make.invoice(company, total=100_00, due_date=DUE)
    partly_disputed = make.invoice(company, total=300_00, due_date=DUE)
    wholly_disputed = make.invoice(company, total=40_00, due_date=DUE)
    db.commit()
    assert numbers_in(remind(DUE + timedelta(days=3))[0]) == [paid.number, partly_disputed.number,
                                                             wholly_disputed.number]

    make.payment(paid, 100_00)
    with app.app_context():
        disputes = services().disputes
    make.dispute(disputes, partly_disputed, clerk, amount=120_00)
    make.dispute(disputes, wholly_disputed, clerk)
    db.commit()

    [mail] = remind(DUE + timedelta(days=10))
    body = mail.text_body()
    assert numbers_in(mail) == [partly_disputed.number]
    assert "€180.00" in body and "€120.00 of it is under dispute and not asked for." in body
    assert "Pay €180.00 for these invoices at once" in body
    assert wholly_disputed.number not in body and paid.number not in body


def test_void_and_draft_invoices_and_paused_companies_get_nothing(db, make, remind):
    company = make.company(locale="en")
    paused = make.company(locale="en")
    voided = make.invoice(company, due_date=DUE)
    make.invoice(company, due_date=DUE, issue=False)
    make.invoice(paused, due_date=DUE)
    void_invoice(db, Actor.system("tests"), voided, reason="Sent twice")
    set_company_schedule(db, Actor.system("tests"), paused, paused=True, own_steps=None)
    db.commit()

    assert remind(DUE + timedelta(days=3)) == []


def test_a_run_that_did_not_happen_for_weeks_sends_only_the_latest_step(db, make, remind):
    company = make.company(locale="en")
    invoice = make.invoice(company, due_date=DUE)
    db.commit()

    assert len(remind(DUE + timedelta(days=15))) == 1
    assert remind(DUE + timedelta(days=16)) == []
    assert db.scalars(select(ReminderItem.step).where(ReminderItem.invoice_id == invoice.id)).all() == [10]
    assert len(remind(DUE + timedelta(days=30))) == 1


def test_the_same_day_run_twice_sends_once(db, make, remind):
    company = make.company(locale="en")
    make.invoice(company, due_date=DUE)
    db.commit()

    assert len(remind(DUE + timedelta(days=3))) == 1
    assert remind(DUE + timedelta(days=3)) == []


def test_staff_schedules_default_and_per_company(db, make, remind):
    usual = make.company(locale="en")
    own = make.company(locale="en")
    make.invoice(usual, due_date=DUE)
    make.invoice(own, due_date=DUE)
    set_default_schedule(db, Actor.system("tests"), notice_days=None, reminder_days=(5,))
    set_company_schedule(db, Actor.system("tests"), own, paused=False, own_steps=(2, (1, 20)))
    db.commit()

    sent = sent_days(remind, DUE - timedelta(days=10), DUE + timedelta(days=25))

    def to(company):
        return [day - DUE for day, mails in sent.items()
                if any(company.billing_emails[0] in mail.recipients for mail in mails)]

    assert to(usual) == [timedelta(days=5)]
    assert to(own) == [timedelta(days=-2), timedelta(days=1), timedelta(days=20)]


def test_a_company_without_billing_address_is_counted_not_sent(db, make, reminder_context):
    company = make.company(locale="en", billing_emails=[])
    make.invoice(company, due_date=DUE)
    db.commit()

    report = run_reminders(db, reminder_context, as_of=DUE + timedelta(days=3))

    assert (report.emails, report.no_recipients) == (0, 1)
    assert db.scalar(select(func.count()).select_from(ReminderItem)) == 0


def test_a_company_in_great_britain_is_reminded_in_english_in_british_formats(db, make, remind):
    british = make.company(locale="en", currency="GBP")
    british.region = "GB"
    american_formats = make.company(locale="en", currency="GBP")
    for company in (british, american_formats):
        make.invoice(company, total=1_234_56, currency="GBP", due_date=DUE - timedelta(days=3))
    db.commit()

    by_recipient = {mail.recipients[0]: mail.text_body() for mail in remind(DUE)}

    long_due = DUE - timedelta(days=3)
    assert f"due {long_due.day} {long_due:%B %Y}: £1,234.56" in by_recipient[british.billing_emails[0]]
    assert f"due {long_due:%B} {long_due.day}, {long_due.year}: £1,234.56" in by_recipient[american_formats.billing_emails[0]]
