"""Who may reach a view: customer clerks (scoped to their company) or the supplier's staff."""

from functools import wraps

from flask import abort, redirect, url_for
from flask_login import current_user, login_required

from portal.accounts.permissions import Action, may
from portal.models import Company


def clerk_required(view):
    """Only a signed-in clerk of a customer company; staff are sent to their own pages."""

    @wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if current_user.is_staff:
            return redirect(url_for("collections.dashboard"))
        return view(*args, **kwargs)

    return guarded


def staff_required(view):
    """Only a signed-in member of the supplier's collections staff; to a customer's clerk the staff
    pages do not exist (404), so they give away neither their addresses nor what they hold."""

    @wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if not current_user.is_staff:
            abort(404)
        return view(*args, **kwargs)

    return guarded


def current_company() -> Company:
    """The signed-in clerk's company: the scope of every customer-facing query."""
    return current_user.company


def permission_required(action: Action):
    """Only a clerk whose role may do `action` (portal.accounts.permissions); others get 403.

    The action is kept on the view (`required_action`) so the tests can hold every route to the matrix.
    """

    def decorate(view):
        @wraps(view)
        @clerk_required
        def guarded(*args, **kwargs):
            if not may(current_user, action):
                abort(403)
            return view(*args, **kwargs)

        guarded.required_action = action
        return guarded

    return decorate
