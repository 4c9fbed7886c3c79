"""The top bar's menu, which every signed-in page shows: the same for every reader of one kind, role
and company in one language, so rendered once a process for each rather than on every page (its
dozen links and labels cost a cached page a tenth of its time)."""

from flask import Flask, current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from portal.page_cache import BoundedLru, cache_key

# A handful per role and language for each company name shown: bounded, least recently used dropped.
MENUS_KEPT = 1024


def install_menu(app: Flask) -> None:
    app.extensions["acquit.menus"] = BoundedLru(MENUS_KEPT)
    app.context_processor(lambda: {"menu": menu})


def menu() -> Markup:
    """The menu of the signed-in reader (nothing for a visitor), in the page's language."""
    if not current_user.is_authenticated:
        return Markup()
    # Everything the template reads of the reader: permissions follow from kind, role and being active.
    key = cache_key(get_locale(), request.script_root, current_user.kind, current_user.role, current_user.is_active,
                    "" if current_user.is_staff else current_user.company.name)
    menus: BoundedLru[Markup] = current_app.extensions["acquit.menus"]
    if current_app.jinja_env.auto_reload or (rendered := menus.get(key)) is None:
        rendered = Markup(render_template("_menu.html"))
        menus.set(key, rendered)
    return rendered
