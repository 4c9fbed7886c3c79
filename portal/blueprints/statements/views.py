from flask import Response, current_app, render_template, request

from portal import clock
from portal.accounts.permissions import Action
from portal.blueprints.collections.reminder_forms import StatementPeriodForm, current_month
from portal.blueprints.guards import current_company, permission_required
from portal.blueprints.statements import blueprint
from portal.extensions import db
from portal.statements.account import AgingBucket, statement_of_account
from portal.statements.pdf import render_statement_pdf


@blueprint.route("")
@permission_required(Action.VIEW_INVOICES)
def index():
    company = current_company()
    form = StatementPeriodForm(request.args if request.args.get("start") else None,
                               **current_month(clock.today()))
    if not form.validate():
        return render_template("statements/index.html", form=form, statement=None), 400
    statement = statement_of_account(db.session, company, start=form.start.data, end=form.end.data)
    return render_template("statements/index.html", form=form, statement=statement, buckets=list(AgingBucket))


@blueprint.route("/statement.pdf")
@permission_required(Action.DOWNLOAD)
def pdf():
    company = current_company()
    form = StatementPeriodForm(request.args)
    if not form.validate():
        return render_template("statements/index.html", form=form, statement=None), 400
    statement = statement_of_account(db.session, company, start=form.start.data, end=form.end.data)
    document = render_statement_pdf(statement, supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"],
                                    locale=company.locale)
    filename = f"statement-{company.external_ref}-{form.start.data.isoformat()}-{form.end.data.isoformat()}.pdf"
    return Response(document, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename.replace(chr(34), "")}"'})
