"""Who may reach a view: customer clerks (scoped to their company) or the supplier's staff."""

from functools import wraps

from flask import abort, redirect, url_for
from flask_login import current_user, login_required

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
    """Only a signed-in member of the supplier's collections staff."""

    @wraps(view)
    @login_required
    def guarded(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return guarded


def current_company() -> Company:
    """The signed-in clerk's company: the scope of every customer-facing query."""
    return current_user.company


def payer_required(view):
    """Only a clerk who may pay for their company: an admin or a payer, never a viewer."""

    @wraps(view)
    @clerk_required
    def guarded(*args, **kwargs):
        if not current_user.can_pay:
            abort(403)
        return view(*args, **kwargs)

    return guarded
