"""The collections team's reminders and statements: the default schedule, and per company its schedule,
its reminder history and its statements of account."""

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from portal import clock
from portal.audit import Actor
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.reminder_forms import (
    CompanyScheduleForm,
    EmailStatementForm,
    MonthlyStatementForm,
    ScheduleForm,
    StatementPeriodForm,
    current_month,
)
from portal.blueprints.guards import staff_required
from portal.extensions import db
from portal.models import Company
from portal.reminders import history
from portal.reminders.policy import company_schedule, default_schedule, set_company_schedule, set_default_schedule
from portal.reminders.recipients import reminder_recipients, statement_recipients
from portal.statements.account import statement_of_account
from portal.statements.pdf import render_statement_pdf
from portal.statements.service import email_statement, is_subscribed, set_monthly_statement


@blueprint.route("/reminders")
@staff_required
def reminders():
    return _reminders_page(_schedule_form(default_schedule(db.session)))


@blueprint.route("/reminders", methods=["POST"])
@staff_required
def save_default_schedule():
    form = ScheduleForm()
    if not form.validate_on_submit():
        return _reminders_page(form, status=400)
    notice_days, reminder_days = form.steps()
    set_default_schedule(db.session, Actor.user(current_user), notice_days=notice_days, reminder_days=reminder_days)
    flash(_("Default reminder schedule saved."), "success")
    return redirect(url_for("collections.reminders"), code=303)


@blueprint.route("/companies/<ref>/reminders")
@staff_required
def company_reminders(ref: str):
    return _company_page(_company_or_404(ref))


@blueprint.route("/companies/<ref>/reminders", methods=["POST"])
@staff_required
def save_company_schedule(ref: str):
    company = _company_or_404(ref)
    form = CompanyScheduleForm()
    if not form.validate_on_submit():
        return _company_page(company, schedule_form=form, status=400)
    set_company_schedule(db.session, Actor.user(current_user), company, paused=form.paused.data,
                         own_steps=form.steps() if form.schedule.data == "own" else None)
    flash(_("Reminders paused for %(company)s.", company=company.name) if form.paused.data
          else _("Reminder schedule of %(company)s saved.", company=company.name), "success")
    return redirect(url_for("collections.company_reminders", ref=company.external_ref), code=303)


@blueprint.route("/companies/<ref>/statement.pdf")
@staff_required
def company_statement_pdf(ref: str):
    company = _company_or_404(ref)
    form = StatementPeriodForm(request.args)
    if not form.validate():
        return _company_page(company, statement_form=form, status=400)
    return _statement_download(company, form)


@blueprint.route("/companies/<ref>/statement/email", methods=["POST"])
@staff_required
def email_company_statement(ref: str):
    company = _company_or_404(ref)
    form = EmailStatementForm()
    if not form.validate_on_submit():
        return _company_page(company, email_form=form, status=400)
    sent = email_statement(db.session, Actor.user(current_user), company, start=form.start.data, end=form.end.data,
                           supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"],
                           base_url=current_app.config["ACQUIT_BASE_URL"])
    if sent:
        flash(ngettext("Statement e-mailed to %(num)d address.", "Statement e-mailed to %(num)d addresses.", sent),
              "success")
    else:
        flash(_("No billing address of %(company)s takes statements: nothing was sent.", company=company.name), "error")
    return redirect(url_for("collections.company_reminders", ref=company.external_ref), code=303)


@blueprint.route("/companies/<ref>/monthly-statement", methods=["POST"])
@staff_required
def save_monthly_statement(ref: str):
    company = _company_or_404(ref)
    form = MonthlyStatementForm()
    if not form.validate_on_submit():
        return _company_page(company, monthly_form=form, status=400)
    set_monthly_statement(db.session, Actor.user(current_user), company, on=form.monthly.data)
    flash(_("%(company)s will get its statement each month.", company=company.name) if form.monthly.data
          else _("%(company)s will no longer get a monthly statement.", company=company.name), "success")
    return redirect(url_for("collections.company_reminders", ref=company.external_ref), code=303)


def _statement_download(company: Company, form: StatementPeriodForm) -> Response:
    statement = statement_of_account(db.session, company, start=form.start.data, end=form.end.data)
    document = render_statement_pdf(statement, supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"],
                                    locale=company.locale)
    filename = f"statement-{company.external_ref}-{form.start.data.isoformat()}-{form.end.data.isoformat()}.pdf"
    return Response(document, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename.replace(chr(34), "")}"'})


def _reminders_page(form: ScheduleForm, *, status: int = 200):
    return render_template("collections/reminders.html", form=form, emails=history.recent_reminder_emails(db.session)), status


def _company_page(company: Company, *, schedule_form=None, statement_form=None, email_form=None, monthly_form=None,
                  status: int = 200):
    schedule = company_schedule(db.session, company.id)
    period = current_month(clock.today())
    return render_template(
        "collections/reminders_company.html", company=company, schedule=schedule,
        default=default_schedule(db.session), recipients=reminder_recipients(db.session, company),
        statement_recipients=statement_recipients(db.session, company),
        emails=history.company_reminder_emails(db.session, company.id),
        schedule_form=schedule_form or CompanyScheduleForm(
            formdata=None, paused=schedule.paused, schedule="own" if schedule.own_steps else "default",
            notice_days=schedule.notice_days, reminder_days=_days_text(schedule.reminder_days)),
        statement_form=statement_form or StatementPeriodForm(formdata=None, **period),
        email_form=email_form or EmailStatementForm(formdata=None, **period),
        monthly_form=monthly_form or MonthlyStatementForm(formdata=None, monthly=is_subscribed(db.session, company)),
    ), status


def _schedule_form(schedule) -> ScheduleForm:
    return ScheduleForm(formdata=None, notice_days=schedule.notice_days,
                        reminder_days=_days_text(schedule.reminder_days))


def _days_text(days: tuple[int, ...]) -> str:
    return ", ".join(str(day) for day in days)


def _company_or_404(ref: str) -> Company:
    company = db.session.scalar(select(Company).where(Company.external_ref == ref[:64]))
    if company is None:
        abort(404)
    return company
