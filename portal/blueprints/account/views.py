from collections.abc import Callable

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.accounts import recipients as billing_recipients
from portal.accounts import users as colleagues
from portal.accounts.invitations import InvitationConflict, Outcome
from portal.accounts.permissions import MATRIX, Action, Role
from portal.accounts.profile import own_actions, update_profile
from portal.audit import Actor
from portal.billing import company_fields
from portal.blueprints.account import blueprint
from portal.blueprints.account.forms import (
    ACTION_LABELS,
    FORMAT_LABELS,
    PURPOSE_LABELS,
    ROLE_DESCRIPTIONS,
    ROLE_LABELS,
    CompanyFieldForm,
    InviteForm,
    NewRecipientForm,
    ProfileForm,
    RecipientChoicesForm,
    RoleForm,
    field_refusal,
)
from portal.blueprints.app_services import services
from portal.blueprints.guards import current_company, permission_required
from portal.extensions import db
from portal.models import RecipientPurpose


def _done(message: str, page: str):
    """After a change: say what was done, and show `page` again (303, so a reload posts nothing)."""
    flash(message, "success")
    return redirect(url_for(page), code=303)


def _or_404(found):
    """What a company-scoped lookup found, or 404: another company's row is no row."""
    if found is None:
        abort(404)
    return found


def _row_forms(rows, failed: dict | None, blank: Callable):
    """A form per row of a list page: the one just refused (`failed`, by row id, with its errors) or a fresh one."""
    return {row.id: (failed or {}).get(row.id) or blank(row) for row in rows}

# --- Every user's own page ------------------------------------------------------------------


@blueprint.route("", methods=["GET", "POST"])
@login_required
def profile():
    user = current_user._get_current_object()
    form = ProfileForm()
    if form.validate_on_submit():
        update_profile(user, full_name=form.full_name.data, locale=form.locale.data or None)
        # The language just saved is the one to show, not one picked earlier on a page.
        session.pop("lang", None)
        flash(_("Your profile is saved."), "success")
        return redirect(url_for("account.profile"), code=303)
    if not form.is_submitted():
        form.full_name.data, form.locale.data = user.full_name, user.locale or ""
    actions = own_actions(db.session, user) if user.is_clerk else None
    return render_template("account/profile.html", form=form, actions=actions,
                           role_label=ROLE_LABELS.get(user.role)), 400 if form.errors else 200


# --- A company admin's users ----------------------------------------------------------------


@blueprint.route("/users")
@permission_required(Action.MANAGE_USERS)
def users():
    return _users_page(InviteForm())


@blueprint.route("/users", methods=["POST"])
@permission_required(Action.MANAGE_USERS)
def invite():
    form = InviteForm()
    if not form.validate_on_submit():
        return _users_page(form), 400
    try:
        user, outcome = colleagues.invite_colleague(
            db.session, current_user._get_current_object(), email=form.email.data, role=Role(form.role.data),
            links=services().set_password_links, supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"])
    except InvitationConflict:
        form.email.errors.append(_("This address belongs to an account outside your company. Use another address."))
        return _users_page(form), 409
    if outcome == Outcome.UNCHANGED:
        flash(_("%(email)s already has an account in your company.", email=user.email), "info")
    else:
        return _done(_("Invitation sent to %(email)s.", email=user.email), "account.users")


@blueprint.route("/users/<int:user_id>/role", methods=["POST"])
@permission_required(Action.MANAGE_USERS)
def change_role(user_id: int):
    colleague = _colleague(user_id)
    form = RoleForm(prefix=f"user-{colleague.id}")
    if not form.validate_on_submit():
        return _users_page(InviteForm(formdata=None), error=_("Choose one of the roles.")), 400
    try:
        colleagues.change_role(db.session, current_user._get_current_object(), colleague, Role(form.role.data))
    except colleagues.LastAdmin:
        return _users_page(InviteForm(formdata=None), error=_last_admin_error()), 409
    return _done(_("%(email)s is now: %(role)s.", email=colleague.email, role=ROLE_LABELS[Role(form.role.data)]), "account.users")


@blueprint.route("/users/<int:user_id>/disable", methods=["POST"])
@permission_required(Action.MANAGE_USERS)
def disable_user(user_id: int):
    colleague = _colleague(user_id)
    try:
        colleagues.disable_user(db.session, current_user._get_current_object(), colleague)
    except colleagues.LastAdmin:
        return _users_page(InviteForm(formdata=None), error=_last_admin_error()), 409
    return _done(_("%(email)s can no longer sign in.", email=colleague.email), "account.users")


@blueprint.route("/users/<int:user_id>/enable", methods=["POST"])
@permission_required(Action.MANAGE_USERS)
def enable_user(user_id: int):
    colleague = _colleague(user_id)
    colleagues.enable_user(db.session, current_user._get_current_object(), colleague)
    return _done(_("%(email)s can sign in again.", email=colleague.email), "account.users")


def _colleague(user_id: int):
    return _or_404(colleagues.find_company_user(db.session, current_company().id, user_id))


def _last_admin_error() -> str:
    return _("Your company needs at least one active administrator: make someone else an administrator first.")


def _users_page(form: InviteForm, *, error: str | None = None):
    people = colleagues.company_users(db.session, current_company().id)
    role_forms = {person.id: RoleForm(formdata=None, prefix=f"user-{person.id}", role=person.role) for person in people}
    return render_template("account/users.html", form=form, people=people, role_forms=role_forms, error=error,
                           matrix=MATRIX, roles=list(Role), actions=list(Action), action_labels=ACTION_LABELS,
                           role_labels=ROLE_LABELS, role_descriptions=ROLE_DESCRIPTIONS)


# --- A company admin's billing recipients ---------------------------------------------------


@blueprint.route("/recipients")
@permission_required(Action.MANAGE_RECIPIENTS)
def recipients():
    return _recipients_page(NewRecipientForm(formdata=None, purposes=list(RecipientPurpose)))


@blueprint.route("/recipients", methods=["POST"])
@permission_required(Action.MANAGE_RECIPIENTS)
def add_recipient():
    form = NewRecipientForm()
    if not form.validate_on_submit():
        return _recipients_page(form), 400
    try:
        recipient = billing_recipients.add_recipient(
            db.session, Actor.user(current_user), current_company(), form.email.data,
            purposes=[RecipientPurpose(purpose) for purpose in form.purposes.data],
            invoice_format=form.invoice_format.data)
    except billing_recipients.RecipientError as refusal:
        form.email.errors.append(_recipient_error(refusal.code))
        return _recipients_page(form), 409
    return _done(_("%(email)s added.", email=recipient.email), "account.recipients")


@blueprint.route("/recipients/<int:recipient_id>", methods=["POST"])
@permission_required(Action.MANAGE_RECIPIENTS)
def update_recipient(recipient_id: int):
    recipient = _recipient(recipient_id)
    form = RecipientChoicesForm(prefix=f"recipient-{recipient.id}")
    if not form.validate_on_submit():
        return _recipients_page(NewRecipientForm(formdata=None, purposes=list(RecipientPurpose)),
                                failed={recipient.id: form}), 400
    billing_recipients.update_recipient(
        db.session, Actor.user(current_user), recipient,
        purposes=[RecipientPurpose(purpose) for purpose in form.purposes.data], invoice_format=form.invoice_format.data)
    return _done(_("Saved what %(email)s receives.", email=recipient.email), "account.recipients")


@blueprint.route("/recipients/<int:recipient_id>/remove", methods=["POST"])
@permission_required(Action.MANAGE_RECIPIENTS)
def remove_recipient(recipient_id: int):
    recipient = _recipient(recipient_id)
    billing_recipients.remove_recipient(db.session, Actor.user(current_user), recipient)
    return _done(_("%(email)s will receive nothing more.", email=recipient.email), "account.recipients")


def _recipient(recipient_id: int):
    return _or_404(billing_recipients.find_recipient(db.session, current_company().id, recipient_id))


def _recipient_error(code: str) -> str:
    if code == "recipient_exists":
        return _("This address is already a recipient.")
    return _("A company has at most %(count)d recipients.", count=billing_recipients.MAX_RECIPIENTS)


def _recipients_page(form: NewRecipientForm, *, failed: dict | None = None):
    rows = billing_recipients.company_recipients(db.session, current_company().id)
    forms = _row_forms(rows, failed, lambda row: RecipientChoicesForm(
        formdata=None, prefix=f"recipient-{row.id}", invoice_format=row.invoice_format,
        purposes=[purpose for purpose in RecipientPurpose if row.receives(purpose)]))
    return render_template("account/recipients.html", form=form, rows=rows, forms=forms,
                           purpose_labels=PURPOSE_LABELS, format_labels=FORMAT_LABELS)


# --- A company admin's own fields -----------------------------------------------------------


@blueprint.route("/fields")
@permission_required(Action.MANAGE_FIELDS)
def fields():
    return _fields_page(CompanyFieldForm(formdata=None))


@blueprint.route("/fields", methods=["POST"])
@permission_required(Action.MANAGE_FIELDS)
def define_field():
    form = CompanyFieldForm()
    if not form.validate_on_submit():
        return _fields_page(form), 400
    try:
        field = company_fields.define_field(db.session, Actor.user(current_user), current_company().id,
                                            label=form.label.data, kind=form.kind.data, choices=form.choice_lines())
    except company_fields.FieldError as refusal:
        form.label.errors.append(field_refusal(refusal.code))
        return _fields_page(form), 409
    return _done(_("The field %(label)s is added: your colleagues can fill it in on each invoice.", label=field.label),
                 "account.fields")


@blueprint.route("/fields/<int:field_id>", methods=["POST"])
@permission_required(Action.MANAGE_FIELDS)
def change_field(field_id: int):
    field = _company_field(field_id)
    form = CompanyFieldForm(prefix=f"field-{field.id}")
    # The kind of a field is fixed once defined: only the name and the list's values change.
    form.kind.data = field.kind
    if not form.validate_on_submit():
        return _fields_page(CompanyFieldForm(formdata=None), failed={field.id: form}), 400
    try:
        company_fields.change_field(db.session, Actor.user(current_user), field, label=form.label.data,
                                    choices=form.choice_lines())
    except company_fields.FieldError as refusal:
        form.label.errors.append(field_refusal(refusal.code))
        return _fields_page(CompanyFieldForm(formdata=None), failed={field.id: form}), 409
    return _done(_("The field %(label)s is saved.", label=field.label), "account.fields")


@blueprint.route("/fields/<int:field_id>/remove", methods=["POST"])
@permission_required(Action.MANAGE_FIELDS)
def remove_field(field_id: int):
    field = _company_field(field_id)
    label = field.label
    company_fields.remove_field(db.session, Actor.user(current_user), field)
    return _done(_("The field %(label)s is removed, with what was filled in for it.", label=label), "account.fields")


def _company_field(field_id: int):
    return _or_404(company_fields.find_company_field(db.session, current_company().id, field_id))


def _fields_page(form: CompanyFieldForm, *, failed: dict | None = None):
    rows = company_fields.company_fields(db.session, current_company().id)
    forms = _row_forms(rows, failed, lambda row: CompanyFieldForm(
        formdata=None, prefix=f"field-{row.id}", label=row.label, kind=row.kind, choices="\n".join(row.choices)))
    return render_template("account/fields.html", form=form, rows=rows, forms=forms,
                           max_fields=company_fields.MAX_FIELDS)
