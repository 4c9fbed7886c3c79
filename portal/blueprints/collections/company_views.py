"""Customers, the collections team's side: the companies list and one company's page."""

from flask import abort, render_template, request
from sqlalchemy import select

from portal import clock
from portal.autopay.queries import company_autopay
from portal.billing import exports, history
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.forms import CompanyFilterForm
from portal.blueprints.downloads import csv_download
from portal.blueprints.guards import staff_required
from portal.blueprints.invoices.forms import HistoryFilterForm
from portal.collections.companies import (
    all_company_balances,
    company_balances,
    company_balances_csv,
    company_summary,
)
from portal.collections.payments import PaymentQuery, payment_list
from portal.disputes.service import company_disputes
from portal.extensions import db
from portal.models import Company, User

#: The latest payments the company page shows; the payments list, filtered on the company, has them all.
PAYMENTS_SHOWN = 10


@blueprint.route("/companies")
@staff_required
def companies():
    form = CompanyFilterForm(request.args)
    page = company_balances(db.session, form.company_query(), today=clock.today()) if form.validate() else None
    return render_template("collections/companies.html", form=form, page=page), 200 if page else 400


@blueprint.route("/companies.csv")
@staff_required
def companies_csv():
    form = CompanyFilterForm(request.args)
    if not form.validate():
        return render_template("collections/companies.html", form=form, page=None), 400
    rows = all_company_balances(db.session, form.company_query(), today=clock.today())
    return csv_download(company_balances_csv(rows), f"customers-{clock.today().isoformat()}.csv")


@blueprint.route("/companies/<ref>")
@staff_required
def company(ref: str):
    found = _company_or_404(ref)
    form = HistoryFilterForm(request.args, currency=found.currency)
    page = None
    if form.validate():
        page = history.invoice_history(db.session, found.id, form.history_query(), today=clock.today(),
                                       currency=found.currency)
    return render_template(
        "collections/company.html", company=found, form=form, page=page,
        balances=company_summary(db.session, found.id, today=clock.today()),
        payments=payment_list(db.session, PaymentQuery(company_id=found.id, per_page=PAYMENTS_SHOWN)).rows,
        disputes=company_disputes(db.session, found.id),
        users=list(db.session.scalars(select(User).where(User.company_id == found.id).order_by(User.email))),
        autopay=company_autopay(db.session, found.id),
    ), 200 if page else 400


@blueprint.route("/companies/<ref>/invoices.csv")
@staff_required
def company_invoices_csv(ref: str):
    found = _company_or_404(ref)
    form = HistoryFilterForm(request.args, currency=found.currency)
    if not form.validate():
        abort(400)
    statement = history.history_statement(found.id, form.history_query(), today=clock.today(),
                                          currency=found.currency)
    return csv_download(exports.invoices_as_csv(db.session, statement, today=clock.today()),
                        f"invoices-{found.external_ref}-{clock.today().isoformat()}.csv")


def _company_or_404(ref: str) -> Company:
    found = db.session.scalar(select(Company).where(Company.external_ref == ref))
    if found is None:
        abort(404)
    return found
