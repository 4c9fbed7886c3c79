"""What runs around every request: refusals before a view, the one commit after it, and the
e-mails that commit queued, delivered once it has landed."""

from functools import partial

from flask import Flask, abort, request, session
from flask_login import current_user

from portal import i18n
from portal.blueprints.text_input import refuse_nul_characters
from portal.db import begin_write
from portal.extensions import db
from portal.mail import outbox
from portal.services import services_of

# Set on a view that calls `portal.db.begin_write_after_reading` once it has read and checked its input.
BEGINS_WRITING_ITSELF = "acquit_begins_writing_itself"


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _refuse_oversized_query_string():
        if len(request.query_string) > app.config["ACQUIT_MAX_QUERY_STRING_BYTES"]:
            abort(414)

    app.before_request(refuse_nul_characters)

    @app.before_request
    def _begin_writing_requests_as_writers():
        # A POST reads, then writes. On SQLite such a transaction fails with "database is
        # locked" whenever another request wrote in between, so it takes the write lock
        # first (see `begin_write`); GETs stay concurrent readers. PostgreSQL is unaffected.
        if request.method not in ("GET", "HEAD", "OPTIONS") and not db.session.in_transaction() \
                and not getattr(app.view_functions.get(request.endpoint), BEGINS_WRITING_ITSELF, False):
            begin_write(db.session)

    @app.before_request
    def _remember_chosen_language():
        chosen = request.args.get("lang")
        if chosen in i18n.SUPPORTED_LOCALES:
            session["lang"] = chosen

    @app.after_request
    def _commit_or_roll_back(response):
        # The one commit of a request: everything it changed, with its audit rows and its
        # outbox e-mails, lands together or not at all.
        if response.status_code < 400:
            db.session.commit()
            deliver_enqueued_mail(app)
            if later := outbox.take_enqueued_ids(db.session, after_response=True):
                response.call_on_close(partial(_deliver_after_response, app, later))
        else:
            db.session.rollback()
        response.vary.add("HX-Request")
        return response

    @app.context_processor
    def _inject_user():
        return {"current_user": current_user, "supplier_name": app.config["ACQUIT_SUPPLIER_NAME"]}


def deliver_enqueued_mail(app: Flask) -> None:
    """Send, right after their commit, the e-mails this session just queued."""
    if ids := outbox.take_enqueued_ids(db.session):
        _deliver(app, ids)


def _deliver_after_response(app: Flask, ids: set[int]) -> None:
    with app.app_context():
        _deliver(app, ids)


def _deliver(app: Flask, ids: set[int]) -> None:
    # Best effort: if the server does not answer, one timeout is lost and the worker retries.
    outbox.deliver(db.session, services_of(app).smtp, ids, stop_at_first_failure=True,
                   log_unsent_bodies=app.config["ACQUIT_DEMO"])
    db.session.commit()
