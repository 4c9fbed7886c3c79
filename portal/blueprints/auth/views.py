import math
import time
from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from portal.accounts import service as accounts
from portal.accounts.errors import InvalidCredentials, InvalidResetToken, TooManyAttempts, WeakPassword
from portal.accounts.service import SetPasswordLinks
from portal.blueprints.app_services import services
from portal.blueprints.auth import blueprint, devices
from portal.blueprints.auth.forms import ChangePasswordForm, ForgotPasswordForm, LoginForm, ResetPasswordForm
from portal.blueprints.redirects import local_path
from portal.extensions import db
from portal.i18n import select_locale


@blueprint.route("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(_home_url(current_user))


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                db.session, form.email.data, form.password.data, ip_address=_client_address(),
                policy=services().login_policy, known_user_ids=devices.known_user_ids(),
            )
        except TooManyAttempts as refusal:
            return _too_many_attempts("auth/login.html", refusal, form=form)
        except InvalidCredentials:
            # Committed (status 200) so the failure counts towards the rate limit.
            return render_template("auth/login.html", form=form, error=_("Wrong e-mail or password.")), 200
        _start_session(user)
        return devices.remember_device(
            redirect(local_path(request.args.get("next")) or _home_url(user), code=303), user)
    return render_template("auth/login.html", form=form, error=None), 400 if form.errors else 200


@blueprint.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # Every copy of this user's session cookie, here or anywhere, stops working.
        accounts.end_sessions(current_user._get_current_object())
    logout_user()
    _fresh_session()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"), code=303)


@blueprint.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        started = time.monotonic()
        accounts.request_password_reset(
            db.session, form.email.data, client_address=_client_address(), links=services().set_password_links,
            supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"], locale_fallback=select_locale(),
        )
        # The same answer in the same time whether the address exists, is unknown or is over its
        # limit: the work above is done within this floor, so timing tells nothing.
        time.sleep(max(0.0, current_app.config["ACQUIT_PASSWORD_RESET_ANSWER_SECONDS"] - (time.monotonic() - started)))
        flash(_("If an account uses that address, we have sent it a link to choose a new password."), "info")
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/forgot_password.html", form=form), 400 if form.errors else 200


@blueprint.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    return _set_password_page(token, SetPasswordLinks.RESET)


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    return _set_password_page(token, SetPasswordLinks.INVITATION)


def _set_password_page(token: str, purpose: str):
    """Choose a password from a one-time link: after a reset, or to accept an invitation."""
    links = services().set_password_links
    form = ResetPasswordForm()
    template = "auth/reset_password.html" if purpose == SetPasswordLinks.RESET else "auth/accept_invitation.html"
    try:
        links.user_for(db.session, token, purpose)
        if not form.validate_on_submit():
            return render_template(template, form=form, invalid=False), 400 if form.errors else 200
        user = accounts.set_password_from_link(db.session, token, form.password.data, links=links, purpose=purpose)
    except InvalidResetToken as refusal:
        return render_template(template, form=None, invalid=refusal.reason), 400
    except WeakPassword:
        form.password.errors.append(_("At least 10 characters."))
        return render_template(template, form=form, invalid=False), 400
    logout_user()
    # The link came to the user's mailbox: this browser is theirs from now on (see devices).
    if purpose == SetPasswordLinks.INVITATION:
        _start_session(user)
        flash(_("Welcome! Your account is ready."), "success")
        return devices.remember_device(redirect(_home_url(user), code=303), user)
    _fresh_session()
    flash(_("Your password is changed. Sign in with the new one."), "success")
    return devices.remember_device(redirect(url_for("auth.login"), code=303), user)


@blueprint.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    """A signed-in user changes their password; every other session of theirs ends, this one goes on."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/change_password.html", form=form), 400 if form.errors else 200
    user = current_user._get_current_object()
    try:
        accounts.change_password(db.session, user, form.current_password.data, form.password.data,
                                 ip_address=_client_address(), policy=services().login_policy,
                                 known_user_ids=devices.known_user_ids())
    except TooManyAttempts as refusal:
        return _too_many_attempts("auth/change_password.html", refusal, form=form)
    except InvalidCredentials:
        form.current_password.errors.append(_("This is not your current password."))
        # Committed (status 200) so the failure counts towards the rate limit, as at sign-in.
        return render_template("auth/change_password.html", form=form), 200
    except WeakPassword:
        form.password.errors.append(_("At least 10 characters."))
        return render_template("auth/change_password.html", form=form), 400
    _start_session(user)
    flash(_("Your password is changed. You are signed out everywhere else."), "success")
    return redirect(_home_url(user), code=303)


def _start_session(user) -> None:
    """Sign `user` in on a new session: nothing from before sign-in (or from an older version) carries over."""
    _fresh_session()
    login_user(user)


def _fresh_session() -> None:
    # Only the language the visitor chose survives; a new CSRF token is drawn on next use.
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def _client_address() -> str:
    return request.remote_addr or "unknown"


def _too_many_attempts(template: str, refusal: TooManyAttempts, **context):
    wait = max(1, math.ceil(refusal.retry_after.total_seconds()))
    error = _("Too many failed attempts. Try again in %(wait)s, or reset your password.",
              wait=format_timedelta(timedelta(seconds=wait), threshold=1, add_direction=False))
    return render_template(template, error=error, **context), 429, {"Retry-After": str(wait)}


def _home_url(user) -> str:
    """Where a signed-in user starts: staff on the collections dashboard, clerks on their invoices."""
    return url_for("collections.dashboard") if user.is_staff else url_for("invoices.index")

