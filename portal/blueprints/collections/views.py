from flask import render_template

from portal import clock
from portal.billing.aging import company_balances
from portal.blueprints.collections import blueprint
from portal.blueprints.guards import staff_required
from portal.extensions import db


@blueprint.route("/")
@staff_required
def dashboard():
    return render_template("collections/dashboard.html", balances=company_balances(db.session, today=clock.today()))
