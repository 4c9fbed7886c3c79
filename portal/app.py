"""The app factory: settings, extensions, blueprints, request hooks, error handlers and the CLI, wired once."""

import os

from flask import Flask, flash, make_response, redirect, request
from flask_login import login_url
from werkzeug.routing import IntegerConverter

from portal import errors, i18n
from portal.blueprints import BoundedJSONProvider
from portal.blueprints.menu import install_menu
from portal.blueprints.security_headers import register_security_headers
from portal.blueprints.uploads import allow_uploads_where_accepted
from portal.config import Settings
from portal.db import MAX_ROW_ID
from portal.extensions import babel, csrf, db, htmx, login_manager
from portal.payments.setup import gateway_from_config
from portal.proxies import behind_trusted_proxies
from portal.request_hooks import register_request_hooks
from portal.request_log import RequestLog
from portal.services import build_services, install_services
from portal.structured_logs import configure_logging


def create_app(config: dict | None = None) -> Flask:
    """Build the portal: settings from the environment, then `config` overrides on top."""
    # Named after the package, not this module: templates, static files, translations, the
    # instance folder and `app.logger` ("portal") stay where they were when the factory lived there.
    app = Flask("portal", instance_relative_config=True)
    app.url_map.converters["int"] = RowId
    app.json = BoundedJSONProvider(app)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(Settings.from_environment().flask_config(app.instance_path))
    app.config.update(config or {})
    # Built once, before anything else starts: the supplier's identity is checked there (a portal
    # that cannot issue a lawful invoice does not run), the payment gateway is the one the config names.
    install_services(app, build_services(app.config, gateway_from_config(app.config)))
    configure_logging(app.config["ACQUIT_LOG_FORMAT"])
    register_extensions(app)
    register_blueprints(app)
    register_request_hooks(app)
    install_menu(app)
    register_security_headers(app)
    errors.register_error_handlers(app)
    i18n.register_template_helpers(app)
    register_commands(app)
    app.wsgi_app = behind_trusted_proxies(RequestLog(app.wsgi_app, app.url_map), app.config["ACQUIT_TRUSTED_PROXIES"])
    return app


class RowId(IntegerConverter):
    """`<int:…>` in every route: a number beyond what the database can store is no row of it (404), not an error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    app.before_request(allow_uploads_where_accepted)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, default_translation_directories="translations")
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = i18n.LOGIN_REQUIRED_MESSAGE
    login_manager.login_message_category = "info"
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(_sign_in_first)


def _load_user(session_id: str):
    from portal.auth_session import load_user_from_session_id

    return load_user_from_session_id(db.session, session_id)


def _sign_in_first():
    """To the sign-in page, then back. htmx would swap a redirect's target into the fragment it
    asked for, so it is told to load the sign-in page as a whole (HX-Redirect), then the page it showed."""
    flash(str(i18n.LOGIN_REQUIRED_MESSAGE), "info")
    if htmx:
        response = make_response("", 401)
        response.headers["HX-Redirect"] = login_url(login_manager.login_view, next_url=htmx.current_url or request.url)
        return response
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def register_blueprints(app: Flask) -> None:
    from portal.blueprints.account import blueprint as account
    from portal.blueprints.api import blueprint as api
    from portal.blueprints.approvals import blueprint as approvals
    from portal.blueprints.auth import blueprint as auth
    from portal.blueprints.autopay import blueprint as autopay
    from portal.blueprints.collections import blueprint as collections
    from portal.blueprints.disputes import blueprint as disputes
    from portal.blueprints.guest import blueprint as guest
    from portal.blueprints.health import blueprint as health
    from portal.blueprints.invoices import blueprint as invoices
    from portal.blueprints.payments import blueprint as payments
    from portal.blueprints.statements import blueprint as statements
    from portal.blueprints.webhooks import blueprint as webhooks

    for blueprint in (auth, account, invoices, payments, approvals, autopay, disputes, statements, guest, collections,
                      api, webhooks, health):
        app.register_blueprint(blueprint)


def register_commands(app: Flask) -> None:
    from portal.cli import register

    register(app)
