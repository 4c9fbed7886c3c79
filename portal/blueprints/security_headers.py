"""The headers every response carries so a browser holds the portal to what it is.

- Content-Security-Policy: scripts only from the portal itself and Stripe.js's origin (no
  inline script, no eval), styles from the portal plus the one <style> htmx inserts (by its
  nonce), nothing may frame a page (frame-ancestors 'none'), forms post only to the portal.
- Strict-Transport-Security when the portal is served over HTTPS (the request, or the base URL).
- Cache-Control: no-store on everything but the static files: pages of a signed-in clerk,
  a PAY NOW page or an API answer must not be kept by a shared proxy or the browser's back
  button on a shared computer. The invoice list and invoice PDFs are the exception: "private,
  no-cache" with an ETag, so the clerk's own browser keeps them and asks each time (304).
- X-Content-Type-Options, Referrer-Policy and X-Frame-Options (for browsers without CSP 3).

The card number itself is only ever typed into Stripe's own iframe (SAQ-A, see SECURITY.md).
"""

import secrets
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request

from portal.services import services_of

# Stripe's documented sources for Stripe.js and Elements (https://docs.stripe.com/security/guide#content-security-policy).
STRIPE_SOURCES = {
    "script-src": ("https://js.stripe.com", "https://*.js.stripe.com"),
    "frame-src": ("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
    "img-src": ("https://*.stripe.com",),
}
HSTS = "max-age=63072000; includeSubDomains"


def csp_nonce() -> str:
    """This response's nonce, made on first use (templates call it; the header repeats it)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return g.csp_nonce


def stripe_sources(stripe_js_url: str) -> dict[str, tuple[str, ...]]:
    """What the page must let Stripe.js load and reach, for the Stripe.js configured: Stripe's
    own list for js.stripe.com, else (localstripe in the demo and tests) that one origin."""
    parts = urlsplit(stripe_js_url)
    # A path alone (the in-memory gateway's script) is served by the portal itself.
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
    if origin == "https://js.stripe.com":
        return STRIPE_SOURCES
    return {directive: (origin,) for directive in STRIPE_SOURCES}


def stripe_js_url(app: Flask) -> str:
    """The Stripe.js the pages load: the payment gateway's (the demo points it at its own
    localstripe without touching the config), else the configured one."""
    payments = services_of(app).payments
    return getattr(getattr(payments, "gateway", None), "js_url", None) or app.config["ACQUIT_STRIPE_JS_URL"]


def content_security_policy(nonce: str, stripe_js_url: str) -> str:
    stripe = stripe_sources(stripe_js_url)
    directives = {
        "default-src": ("'self'",),
        "script-src": ("'self'", *stripe["script-src"]),
        "style-src": ("'self'", f"'nonce-{nonce}'"),
        "img-src": ("'self'", "data:", *stripe["img-src"]),
        "font-src": ("'self'",),
        "connect-src": ("'self'", *stripe["connect-src"]),
        "frame-src": stripe["frame-src"],
        "object-src": ("'none'",),
        "base-uri": ("'none'",),
        "form-action": ("'self'",),
        "frame-ancestors": ("'none'",),
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def served_over_https() -> bool:
    return request.is_secure or current_app.config["ACQUIT_BASE_URL"].lower().startswith("https://")


def register_security_headers(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        # A 304 tells the browser to show the page it holds, with that page's nonce: a new policy
        # (a new nonce) would replace the one it came with and block its styles.
        if response.status_code != 304:
            headers["Content-Security-Policy"] = content_security_policy(csp_nonce(), stripe_js_url(app))
        if served_over_https():
            headers["Strict-Transport-Security"] = HSTS
        if request.endpoint != "static":
            # A page may say otherwise: the invoice list and PDFs are "private, no-cache" with an ETag.
            headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        return response
