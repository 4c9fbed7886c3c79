"""Autopay, the collections team's side: every company's state, the run's last activity, what it could not charge."""

from flask import render_template

from portal.autopay import queries
from portal.blueprints.collections import blueprint
from portal.blueprints.guards import staff_required
from portal.extensions import db

#: The most unsuccessful attempts the page lists, newest first.
ATTEMPTS_SHOWN = 200


@blueprint.route("/autopay")
@staff_required
def autopay():
    attempts = queries.unsuccessful_attempts(db.session, limit=ATTEMPTS_SHOWN)
    return render_template("collections/autopay.html", states=queries.autopay_states(db.session),
                           last_run_at=queries.last_run_at(db.session), attempts=attempts,
                           attempts_cut=len(attempts) == ATTEMPTS_SHOWN)
