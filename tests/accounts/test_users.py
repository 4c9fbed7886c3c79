"""Managing a company's users without a request: who may, and the company always keeping an admin."""

import pytest

from portal.accounts.users import LastAdmin, NotAllowed, change_role, disable_user, enable_user
from portal.models import Role


@pytest.fixture
def acme(make):
    return make.company()


def test_only_an_admin_of_the_same_company_manages_its_users(make, db, acme):
    payer, viewer = make.user(acme, role=Role.PAYER), make.user(acme, role=Role.VIEWER)
    other_admin = make.user(make.company(), role=Role.ADMIN)

    for actor in (payer, other_admin, make.staff()):
        with pytest.raises(NotAllowed):
            change_role(db, actor, viewer, Role.ADMIN)
        with pytest.raises(NotAllowed):
            disable_user(db, actor, viewer)
    assert (viewer.role, viewer.is_active) == (Role.VIEWER, True)


def test_a_disabled_admin_no_longer_counts_as_the_companys_admin(make, db, acme):
    first, second = make.user(acme, role=Role.ADMIN), make.user(acme, role=Role.ADMIN)

    disable_user(db, first, second)
    with pytest.raises(LastAdmin):
        change_role(db, first, first, Role.VIEWER)
    with pytest.raises(LastAdmin):
        disable_user(db, first, first)

    enable_user(db, first, second)
    change_role(db, first, first, Role.VIEWER)
    assert (first.role, second.role) == (Role.VIEWER, Role.ADMIN)


def test_disabling_ends_every_session_of_the_user(make, db, acme):
    admin, payer = make.user(acme, role=Role.ADMIN), make.user(acme, role=Role.PAYER)
    version = payer.session_version

    disable_user(db, admin, payer)

    assert (payer.is_active, payer.session_version) == (False, version + 1)
