"""Liveness and readiness for a load balancer or an orchestrator, without signing in.

`/healthz` says the process answers (it touches nothing else: a database outage must not get
every web process restarted). `/readyz` says this process can serve: the database answers and
its schema is at the latest migration (`acquit db upgrade` has run); otherwise 503, so the
load balancer sends requests elsewhere. Neither says anything an outsider could use.
"""

import logging

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from portal import migrate
from portal.extensions import db

log = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


@blueprint.route("/healthz")
def healthz():
    return jsonify(status="ok")


@blueprint.route("/readyz")
def readyz():
    try:
        with db.engine.connect() as connection:
            missing = migrate.unapplied_heads(connection)
    except SQLAlchemyError as error:
        log.warning("Not ready: the database does not answer (%s)", type(error).__name__)
        return jsonify(status="not ready", reason="database unavailable"), 503
    if missing:
        log.warning("Not ready: the database schema lacks migration(s) %s; run `acquit db upgrade`", sorted(missing))
        return jsonify(status="not ready", reason="database schema not up to date"), 503
    return jsonify(status="ready")
