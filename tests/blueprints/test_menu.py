"""The top bar's menu, rendered once a process per language, kind of reader, role and company
(portal.blueprints.menu): each reader still sees their own."""

from portal.accounts.permissions import Role
from tests.blueprints.pages import page


def menu_links(client, path: str = "/invoices", **query) -> list[str]:
    nav = page(client.get(path, query_string=query)).find("header").find("nav")
    return [link.text.strip() for link in nav.find_all("a")]


def company_shown(client) -> str:
    return page(client.get("/invoices", query_string={"lang": "en"})).find("nav").find(class_="company").text


def test_each_role_sees_its_own_menu_one_after_the_other(make, login_as, client):
    company = make.company(name="Alpha Widgets SAS")
    viewer, payer, admin = (make.user(company, role=role) for role in (Role.VIEWER, Role.PAYER, Role.ADMIN))
    make.session.commit()

    menus = {}
    for user in (viewer, payer, admin, viewer):
        menus.setdefault(user.role, []).append(menu_links(login_as(user), lang="en"))
        client.post("/logout")

    common = ["Invoices", "Payments", "Approvals", "Disputes", "Autopay", "Statement"]
    assert menus[Role.VIEWER] == [common, common]
    assert menus[Role.PAYER] == [common + ["Saved cards"]]
    assert menus[Role.ADMIN] == [common + ["Saved cards", "Users and roles"]]


def test_the_menu_follows_the_page_language(make, login_as):
    client = login_as(make.user(make.company(), role=Role.VIEWER))
    make.session.commit()

    assert menu_links(client, lang="fr")[:3] == ["Factures", "Paiements", "Approbations"]
    assert menu_links(client, lang="en")[:3] == ["Invoices", "Payments", "Approvals"]


def test_a_renamed_company_shows_its_new_name(make, login_as):
    company = make.company(name="Alpha Widgets SAS")
    client = login_as(make.user(company))
    make.session.commit()
    assert company_shown(client) == "Alpha Widgets SAS"

    company.name = "Alpha & Fils <SAS>"
    make.session.commit()

    assert company_shown(client) == "Alpha & Fils <SAS>"


def test_staff_see_the_collections_menu_and_visitors_none(make, login_as, client):
    assert menu_links(client, "/login") == []

    login_as(make.staff())
    make.session.commit()

    assert menu_links(client, "/collections/", lang="en")[:3] == ["Dashboard", "Customers", "Invoices"]
