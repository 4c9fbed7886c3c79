"""The collections staff themselves: who they are, inviting one, disabling or enabling one."""

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.errors import LastActiveStaff
from portal.accounts.invitations import InvitationConflict, Outcome, invite_staff
from portal.accounts.staff import set_staff_active, staff_members
from portal.audit import Actor
from portal.blueprints.app_services import services
from portal.blueprints.collections import blueprint
from portal.blueprints.collections.forms import StaffInvitationForm
from portal.blueprints.guards import staff_required
from portal.blueprints.payments.forms import ConfirmForm
from portal.extensions import db
from portal.models import User


@blueprint.route("/staff")
@staff_required
def staff():
    return _staff_page()


@blueprint.route("/staff/invitations", methods=["POST"])
@staff_required
def invite():
    form = StaffInvitationForm()
    if not form.validate_on_submit():
        return _staff_page(form=form, status=400)
    try:
        user, outcome = invite_staff(db.session, Actor.user(current_user), email=form.email.data,
                                     full_name=form.full_name.data or "", links=services().set_password_links,
                                     supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"],
                                     locale=str(get_locale()))
    except InvitationConflict:
        form.email.errors.append(_("This address belongs to a customer's account."))
        return _staff_page(form=form, status=409)
    if outcome == Outcome.UNCHANGED:
        flash(_("%(email)s already has an account.", email=user.email), "info")
    else:
        flash(_("Invitation e-mailed to %(email)s.", email=user.email), "success")
    return redirect(url_for("collections.staff"), code=303)


@blueprint.route("/staff/<int:staff_id>/disable", methods=["POST"])
@staff_required
def disable_staff(staff_id: int):
    return _set_active(staff_id, active=False)


@blueprint.route("/staff/<int:staff_id>/enable", methods=["POST"])
@staff_required
def enable_staff(staff_id: int):
    return _set_active(staff_id, active=True)


def _set_active(staff_id: int, *, active: bool):
    member = db.session.get(User, staff_id)
    if member is None or not member.is_staff:
        return render_template("errors/error.html", code=404, message=_("We could not find that page.")), 404
    if not ConfirmForm().validate_on_submit():
        return _staff_page(status=400)
    try:
        set_staff_active(db.session, Actor.user(current_user), member, active=active)
    except LastActiveStaff:
        return _staff_page(error=_("The last active member of the staff cannot be disabled."), status=409)
    if active:
        flash(_("%(email)s can sign in again.", email=member.email), "success")
    else:
        flash(_("%(email)s is disabled and signed out everywhere.", email=member.email), "success")
    return redirect(url_for("collections.staff"), code=303)


def _staff_page(*, form=None, error=None, status=200):
    return render_template("collections/staff.html", members=staff_members(db.session),
                           form=form or StaffInvitationForm(formdata=None), confirm=ConfirmForm(),
                           error=error), status
