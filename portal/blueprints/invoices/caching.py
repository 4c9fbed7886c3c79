"""The invoice pages' cache and ETags: every key starts from the company's data version.

What a rendering depends on is all in its key: the company and its data version (any change
it could see gives a new one, in the same transaction), the day (statuses turn overdue at
midnight), the page's locale, the clerk's role (what they may tick, export), the query
string as typed (the pager repeats it) and the code that renders (`_code_generation`: a new
release never reads a shared cache's entries of the previous one).
"""

import hashlib
from functools import cache
from pathlib import Path

from flask import Flask, Response, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from portal import clock
from portal.models import Company
from portal.page_cache import BoundedLru, PageCache, cache_key, page_cache_from_config

_PORTAL = Path(__file__).resolve().parents[2]
VALID_QUERIES_KEPT = 4096


def install_page_cache(app: Flask) -> None:
    """Give `app` its page cache, as its config says (in memory, or Redis)."""
    app.extensions["acquit.page_cache"] = page_cache_from_config(
        app.config.get("ACQUIT_PAGE_CACHE_URL"), int(app.config.get("ACQUIT_PAGE_CACHE_MIB", 64)) * 1024 * 1024)
    app.extensions["acquit.code_generation"] = _code_generation(app)
    app.extensions["acquit.valid_queries"] = BoundedLru(VALID_QUERIES_KEPT)


def _code_generation(app: Flask) -> str:
    """The code, templates and catalogues that render pages, and the supplier's name they show, as one digest."""
    return cache_key(_code_digest(), app.config.get("ACQUIT_SUPPLIER_NAME"))


@cache
def _code_digest() -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(_PORTAL.rglob("*")):
        if path.suffix in (".py", ".html", ".mo") and path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def page_cache() -> PageCache:
    return current_app.extensions["acquit.page_cache"]


def valid_queries() -> BoundedLru:
    """The queries valid filter forms asked for, in this process, by `query_rendering_key`: a form built and
    validated once per query string, language and company fields (not objects a shared cache could hold)."""
    return current_app.extensions["acquit.valid_queries"]


def company_rendering_key(kind: str, company: Company, *parts) -> str:
    """The key of a part of `company`'s pages rendered for this request's reader, locale and day, whatever its query."""
    return cache_key(kind, current_app.extensions["acquit.code_generation"], company.id, company.data_version,
                     get_locale(), clock.today().isoformat(), current_user.role, request.script_root, *parts)


def rendering_key(kind: str, company: Company, *parts) -> str:
    """The key of a part of `company`'s pages rendered for this request's reader, locale, day and query."""
    return company_rendering_key(kind, company, request.query_string.decode("latin-1"), *parts)


def query_rendering_key(kind: str, *parts) -> str:
    """The key of a part of a page that shows none of a company's data but what `parts` hold: the
    query string as typed, in this request's locale (a list's filter form, its company's fields in `parts`)."""
    return cache_key(kind, current_app.extensions["acquit.code_generation"], get_locale(), request.script_root,
                     request.query_string.decode("latin-1"), *parts)


def page_etag(kind: str, company: Company, *parts) -> str:
    """An ETag for a whole page of `company`'s for this reader: the rendering's key, plus what the page
    frame shows of the signed-in user and their session (e-mail, the form token the page carries)."""
    generate_csrf()  # the session's form token exists before the page that will carry it is keyed on it
    return rendering_key(kind, company, current_user.id, current_user.email, session["csrf_token"], *parts)


def not_modified(etag: str) -> bool:
    """Whether the browser already holds this very page: its ETag matches, and no message waits to be shown
    (a flashed message appears once, in a page that must then be sent)."""
    return request.if_none_match.contains(etag) and not session.get("_flashes")


def privately_cached(response: Response, etag: str) -> Response:
    """`response` kept only by the reader's own browser, which asks each time whether it still holds (304)."""
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response
