"""Security headers: a strict CSP (no inline script, no eval, no framing), HSTS over HTTPS,
no-store on everything dynamic, cookies Secure by default when the base URL is https."""

import re
from pathlib import Path

import pytest

from portal.app import create_app
from portal.blueprints.security_headers import content_security_policy
from portal.config import Settings
from portal.services import services_of
from tests.conftest import app_config

TEMPLATES = Path(__file__).parents[2] / "portal" / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


@pytest.fixture
def guest_url(make, app):
    invoice = make.invoice(make.company(locale="en"))
    with app.app_context():
        from portal.blueprints.app_services import services

        return "/pay/" + services().pay_links.link_for(invoice).token


def test_every_kind_of_page_carries_a_strict_policy(client, make, login_as, guest_url):
    pages = {"sign-in": client.get("/login"), "guest": client.get(guest_url), "not found": client.get("/nowhere"),
             "api": client.get("/api/v1/invoices")}
    login_as(make.user(make.company()))
    pages["signed in"] = client.get("/invoices")

    for name, response in pages.items():
        directives = policy(response)
        assert directives["frame-ancestors"] == ["'none'"], name
        assert directives["object-src"] == ["'none'"] and directives["base-uri"] == ["'none'"], name
        assert directives["form-action"] == ["'self'"], name
        scripts = directives["script-src"]
        assert "'self'" in scripts and not {"'unsafe-inline'", "'unsafe-eval'", "*", "https:"} & set(scripts), name
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_style_nonce_is_new_on_each_response_and_is_the_one_htmx_is_given(client):
    first, second = client.get("/login"), client.get("/login")

    nonces = []
    for response in (first, second):
        [nonce] = [source[len("'nonce-"):-1] for source in policy(response)["style-src"] if source.startswith("'nonce-")]
        assert f'"inlineStyleNonce": "{nonce}"' in response.get_data(as_text=True)
        nonces.append(nonce)
    assert nonces[0] != nonces[1] and len(nonces[0]) >= 22


def test_stripe_js_is_allowed_from_stripe_and_nowhere_else():
    real = content_security_policy("n", "https://js.stripe.com/v3/")
    local = content_security_policy("n", "http://127.0.0.1:8420/js.stripe.com/v3/")

    assert "script-src 'self' https://js.stripe.com https://*.js.stripe.com;" in real
    assert "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com;" in real
    assert "connect-src 'self' https://api.stripe.com;" in real
    assert "script-src 'self' http://127.0.0.1:8420;" in local and "stripe.com" not in local


def test_the_policy_allows_the_stripe_js_the_gateway_serves_even_when_the_config_names_another(app, client):
    # As `acquit demo` does: its localstripe's gateway replaces the configured one.
    gateway = services_of(app).payments.gateway
    gateway.js_url = "http://127.0.0.1:8495/js.stripe.com/v3/"

    sources = policy(client.get("/login"))["script-src"]

    assert "http://127.0.0.1:8495" in sources


def test_hsts_is_sent_over_https_only(client, database_url, tmp_path):
    assert "Strict-Transport-Security" not in client.get("/login").headers

    over_https = client.get("/login", base_url="https://portal.test")
    assert over_https.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"

    behind_https = create_app(app_config(database_url, ACQUIT_BASE_URL="https://pay.supplier.test",
                                         ACQUIT_ATTACHMENT_DIR=str(tmp_path)))
    assert "max-age=" in behind_https.test_client().get("/login").headers["Strict-Transport-Security"]


def test_signed_in_guest_and_api_answers_are_not_stored_static_files_may_be(client, make, login_as, guest_url):
    assert client.get(guest_url).headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/invoices").headers["Cache-Control"] == "no-store"
    login_as(make.user(make.company()))
    for path in ("/payments", "/disputes", "/invoices/export.csv"):
        with client.get(path) as response:
            assert response.headers["Cache-Control"] == "no-store", path
    # The invoice list only in the clerk's own browser, which asks each time whether it changed.
    with client.get("/invoices") as listed:
        assert listed.headers["Cache-Control"] == "private, no-cache" and listed.headers["ETag"]
    with client.get("/static/portal.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")


@pytest.mark.parametrize("base_url, setting, secure", [
    ("https://pay.supplier.test", None, True),
    ("HTTPS://pay.supplier.test", None, True),
    ("http://127.0.0.1:5000", None, False),
    ("https://pay.supplier.test", False, False),
    ("http://localhost:5000", True, True),
])
def test_cookies_are_secure_by_default_exactly_when_the_base_url_is_https(tmp_path, base_url, setting, secure):
    config = Settings(base_url=base_url, session_cookie_secure=setting, secret_key="k").flask_config(str(tmp_path))

    assert (config["SESSION_COOKIE_SECURE"], config["REMEMBER_COOKIE_SECURE"]) == (secure, secure)
    assert config["SESSION_COOKIE_HTTPONLY"] and config["REMEMBER_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_the_cookies_set_at_sign_in_are_secure_httponly_and_samesite(database_url, tmp_path, db, make, monkeypatch):
    from portal.extensions import db as database

    # Configured as an operator would: the https base URL alone makes the cookies Secure.
    monkeypatch.setenv("ACQUIT_BASE_URL", "https://pay.supplier.test")
    monkeypatch.delenv("ACQUIT_SESSION_COOKIE_SECURE", raising=False)
    app = create_app(app_config(database_url, ACQUIT_BASE_URL="https://pay.supplier.test",
                                ACQUIT_ATTACHMENT_DIR=str(tmp_path)))
    with app.app_context():
        database.bind_sessions(app, bind=db.connection(), join_transaction_mode="create_savepoint")
    user = make.user(make.company())
    client = app.test_client()

    response = client.post("/login", data={"email": user.email, "password": make.PASSWORD},
                           base_url="https://pay.supplier.test")

    assert response.status_code == 303
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(cookie for cookie in cookies if cookie.startswith("session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert all("Secure" in cookie and "HttpOnly" in cookie for cookie in cookies), cookies


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"""\s(on[a-z]+|hx-on[:\w-]*)\s*=\s*["']""", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_has_inline_script_the_policy_would_block(template):
    text = template.read_text(encoding="utf-8")

    assert not INLINE_SCRIPT.search(text), "move the script to portal/static (the CSP allows no inline script)"
    assert not INLINE_HANDLER.search(text), "use a data- attribute and portal/static/portal.js (no inline handler)"
    assert "style=" not in text, "use a class in portal.css (the CSP allows no inline style)"
