from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.accounts import service as accounts
from portal.accounts.service import SetPasswordLinks
from portal.accounts.errors import InvalidCredentials, InvalidResetToken, TooManyAttempts, WeakPassword
from portal.blueprints.auth import blueprint
from portal.blueprints.auth.links import set_password_links
from portal.blueprints.redirects import local_path
from portal.blueprints.auth.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm
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
                db.session, form.email.data, form.password.data,
                ip_address=request.remote_addr or "unknown", policy=_login_policy(),
            )
        except TooManyAttempts:
            return render_template(
                "auth/login.html", form=form,
                error=_("Too many failed attempts. Wait 15 minutes, or reset your password."),
            ), 429
        except InvalidCredentials:
            # Committed (status 200) so the failure counts towards the rate limit.
            return render_template("auth/login.html", form=form, error=_("Wrong e-mail or password.")), 200
        login_user(user)
        return redirect(local_path(request.args.get("next")) or _home_url(user), code=303)
    return render_template("auth/login.html", form=form, error=None), 400 if form.errors else 200


@blueprint.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"), code=303)


@blueprint.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(
            db.session, form.email.data, links=set_password_links(),
            supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"], locale_fallback=select_locale(),
        )
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
    links = set_password_links()
    form = ResetPasswordForm()
    template = "auth/reset_password.html" if purpose == SetPasswordLinks.RESET else "auth/accept_invitation.html"
    try:
        links.user_for(db.session, token, purpose)
        if not form.validate_on_submit():
            return render_template(template, form=form, invalid=False), 400 if form.errors else 200
        user = accounts.set_password_from_link(db.session, token, form.password.data, links=links, purpose=purpose)
    except InvalidResetToken:
        return render_template(template, form=None, invalid=True), 400
    except WeakPassword:
        form.password.errors.append(_("At least 10 characters."))
        return render_template(template, form=form, invalid=False), 400
    logout_user()
    if purpose == SetPasswordLinks.INVITATION:
        login_user(user)
        flash(_("Welcome! Your account is ready."), "success")
        return redirect(_home_url(user), code=303)
    flash(_("Your password is changed. Sign in with the new one."), "success")
    return redirect(url_for("auth.login"), code=303)


def _home_url(user) -> str:
    """Where a signed-in user starts: staff on the collections dashboard, clerks on their invoices."""
    return url_for("collections.dashboard") if user.is_staff else url_for("invoices.index")


def _login_policy() -> accounts.LoginPolicy:
    return accounts.LoginPolicy(
        max_failures=current_app.config["ACQUIT_LOGIN_MAX_FAILURES"],
        window=timedelta(seconds=current_app.config["ACQUIT_LOGIN_WINDOW_SECONDS"]),
    )
