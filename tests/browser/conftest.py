"""Browser fixtures: the real app served over HTTP on a database of its own, and Chromium.

`live_server` runs `create_app` in a background thread with werkzeug's threaded server, on
a database migrated by Alembic (SQLite, or PostgreSQL when ACQUIT_TEST_DATABASE_URL is
set). Unlike the `db` fixture, nothing is rolled back: requests commit for real, and data
seeded through `live_db` / `live_make` must be committed before the browser can see it.
The database lives as long as the test process, so each test seeds its own company (the
builders number everything) and sees nothing of the other tests' data by tenancy alone.

`page` is a fresh browser context on Debian's Chromium, with the live server as its base
URL; `new_context(**options)` opens more (without JavaScript, another locale, a phone).
A test fails if the browser met a 5xx answer or a JavaScript error (a test that expects
one clears `browser_problems`); a failing test leaves a screenshot and a Playwright trace
in test-artifacts/.
"""

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Response, expect, sync_playwright
from sqlalchemy.orm import Session

from portal.models import User
from tests.builders import Builders
from tests.conftest import ReceivedEmail, SmtpServer, migrated_database
from tests.live import LiveServer, engine_of, serve, session_on
from tests.localstripe_server import TEST_PUBLISHABLE_KEY, TEST_SECRET_KEY, LocalStripe

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Long enough for a loaded CI runner, short enough that a missing element fails the test
# in seconds rather than at Playwright's 30-second default.
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)
_TEST_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def live_database_url(tmp_path_factory) -> str:
    return migrated_database(tmp_path_factory, "live")


@pytest.fixture(scope="session")
def live_server(live_database_url, live_server_config) -> Iterator[LiveServer]:
    """The real app over real HTTP, committing to its own database, for this test process."""
    # CSRF stays on: the browser goes through the real forms, tokens and all.
    with serve(live_database_url, "live-server", **live_server_config) as live:
        yield live


@pytest.fixture(scope="session")
def live_engine(live_server):
    with engine_of(live_server) as engine:
        yield engine


@pytest.fixture
def live_db(live_engine) -> Iterator[Session]:
    """A session on the live server's database; `commit()` before the browser looks."""
    with session_on(live_engine) as session:
        yield session


@pytest.fixture
def live_make(live_db) -> Builders:
    """The usual builders, writing to the live server's database (commit with `live_db`)."""
    return Builders(live_db)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for this test process."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: browser tests need Debian's Chromium (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must run them", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash[_TEST_FAILED] = True
    return report


@pytest.fixture
def browser_problems() -> list[str]:
    """Server errors and JavaScript errors the browser met during this test."""
    return []


@pytest.fixture
def new_context(request, browser, live_server, browser_problems) -> Iterator[Callable[..., BrowserContext]]:
    """Open a browser context on the live server; each closes (and is traced) at test end."""
    opened: list[BrowserContext] = []

    def note_server_error(response: Response) -> None:
        if response.status >= 500:
            browser_problems.append(f"{response.status} from {response.request.method} {response.url}")

    def open_context(**options) -> BrowserContext:
        options = {"base_url": live_server.url, "locale": "en-GB", "timezone_id": "Europe/Paris", **options}
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("response", note_server_error)
        context.on("weberror", lambda error: browser_problems.append(f"JavaScript error: {error.error}"))
        # Whatever the Content-Security-Policy blocks (a script, a frame, a style) is a problem too:
        # a page that works only without the policy does not work.
        context.on("console", lambda message: browser_problems.append(f"Blocked by the CSP: {message.text}")
                   if message.type == "error" and "Content Security Policy" in message.text else None)
        context.tracing.start(screenshots=True, snapshots=True)
        opened.append(context)
        return context

    yield open_context
    failed = request.node.stash.get(_TEST_FAILED, False) or bool(browser_problems)
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)
    for number, context in enumerate(opened):
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            for index, page in enumerate(context.pages):
                if not page.is_closed():
                    page.screenshot(path=ARTIFACTS / f"{name}-{number}-{index}.png", full_page=True)
            context.tracing.stop(path=ARTIFACTS / f"{name}-{number}-trace.zip")
        else:
            context.tracing.stop()
        context.close()
    assert not browser_problems, "the browser met errors during this test:\n" + "\n".join(browser_problems)


@pytest.fixture
def context(new_context) -> BrowserContext:
    return new_context()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


@pytest.fixture
def sign_in() -> Callable[..., None]:
    """Sign `user` in on `page` through the real form, as a person would."""

    def sign_in_on(page: Page, user: User, password: str = Builders.PASSWORD) -> None:
        page.goto("/login")
        page.locator("input[name=email]").fill(user.email)
        page.locator("input[name=password]").fill(password)
        with page.expect_navigation():
            page.locator("main form[method=post] button[type=submit]").click()
        assert "/login" not in page.url, f"sign-in as {user.email} failed: {page.content()[:2000]}"

    return sign_in_on


# --- What the live server talks to: localstripe for cards, an SMTP server for e-mail --------

# Nothing posts to the live server's webhook URL; the app only needs a secret to start.
LIVE_WEBHOOK_SECRET = "whsec_acquit_browser_tests"


@pytest.fixture(scope="session")
def live_localstripe() -> Iterator[LocalStripe]:
    """localstripe for this test process: the live server's card processor and its Stripe.js."""
    with LocalStripe.start() as server:
        yield server


@pytest.fixture(scope="session")
def live_smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server for this test process; the live server sends all its e-mail here."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server_config(live_localstripe, live_smtp_server) -> dict:
    """Config the live server starts with, on top of `app_config`.

    Session-scoped like the server, so it is decided once per test process: overriding it
    in one module would not restart a server another module already started. Every browser
    test therefore gets cards through localstripe and e-mail through `live_smtp_server`.
    """
    return {
        "ACQUIT_PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": TEST_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": LIVE_WEBHOOK_SECRET,
        "ACQUIT_STRIPE_API_BASE": live_localstripe.api_base,
        "ACQUIT_STRIPE_JS_URL": live_localstripe.stripe_js_url,
        **live_smtp_server.app_config,
    }


@pytest.fixture
def stripe_server(live_localstripe) -> LocalStripe:
    """localstripe with nothing in it yet: what it holds at the end, this test made."""
    live_localstripe.reset()
    return live_localstripe


@pytest.fixture
def mailbox(live_smtp_server) -> Callable[..., list[ReceivedEmail]]:
    """`mailbox(address)` waits for and returns the e-mails the live server sent to `address`.

    `count` is how many to wait for; the SMTP transaction ends before the request that sent
    the mail answers, so the wait is short, but it keeps a slow CI runner from flaking.
    """

    def received_by(address: str, *, count: int = 1, timeout: float = TIMEOUT_MS / 1000) -> list[ReceivedEmail]:
        deadline = time.monotonic() + timeout
        while True:
            found = [mail for mail in list(live_smtp_server.messages) if address in mail.recipients]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, f"{len(found)} e-mail(s) to {address}, expected {count}"
                return found
            time.sleep(0.05)

    return received_by


@pytest.fixture
def enter_card() -> Callable[..., None]:
    """Type a test card into the Card Element of the form `form` (localstripe's Stripe.js).

    localstripe's element is five plain inputs in our page, not Stripe's iframe; the
    year takes two digits.
    """

    def type_card(form: Locator, number: str, *, exp_month: str = "12", exp_year: str = "30", cvc: str = "123",
                  postal_code: str = "75001") -> None:
        element = form.locator("[data-card-element]")
        for placeholder, value in (("number", number), ("exp_month", exp_month), ("exp_year", exp_year),
                                   ("cvc", cvc), ("postal_code", postal_code)):
            element.locator(f"input[placeholder={placeholder}]").fill(value)

    return type_card


def see_what_the_server_committed(session: Session) -> None:
    """End `session`'s snapshot and forget what it loaded: its next reads see the live server's commits.

    On SQLite a read transaction keeps its snapshot, and with `expire_on_commit=False` a
    rollback outside a transaction expires nothing: both would show the test stale rows.
    """
    session.rollback()
    session.expire_all()
