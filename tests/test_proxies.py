"""Behind a proxy: ACQUIT_TRUSTED_PROXIES says how many forwarded hops to believe, and only those."""

import pytest
from sqlalchemy import select

from portal.app import create_app
from portal.config_errors import ConfigurationError
from portal.models import LoginAttempt
from tests.conftest import app_config

PROXY = "10.0.0.5"


def through_the_proxy(app, forwarded_for: str, **headers):
    """A browser whose requests reach the portal from the proxy, which says who the client is."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = PROXY
    browser.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    for name, value in headers.items():
        browser.environ_base["HTTP_" + name.upper().replace("-", "_")] = value
    return browser


def fail_to_sign_in(browser, n: int):
    # A new e-mail each time: only the count per client address can refuse it.
    return browser.post("/login", data={"email": f"nobody{n}@guess.test", "password": "guess"})


# One failure free per e-mail; four per address, which may be a whole office behind one NAT.
LIMITS = {"ACQUIT_LOGIN_MAX_FAILURES": 1}


@pytest.mark.parametrize("app_overrides", [{**LIMITS, "ACQUIT_TRUSTED_PROXIES": 1}])
def test_with_one_trusted_proxy_two_clients_behind_it_are_throttled_separately(app, db):
    guesser = through_the_proxy(app, "198.51.100.7")
    for n in range(4):
        assert fail_to_sign_in(guesser, n).status_code == 200
    assert fail_to_sign_in(guesser, 4).status_code == 429

    colleague = through_the_proxy(app, "198.51.100.8")
    assert fail_to_sign_in(colleague, 5).status_code == 200
    assert set(db.scalars(select(LoginAttempt.ip_address))) == {"198.51.100.7", "198.51.100.8"}


@pytest.mark.parametrize("app_overrides", [{**LIMITS, "ACQUIT_TRUSTED_PROXIES": 1}])
def test_with_one_trusted_proxy_a_client_cannot_choose_its_address_by_prepending_to_the_header(app, db):
    # The proxy appends what it saw to what the client sent: only the last entry is the proxy's word.
    for n in range(4):
        fail_to_sign_in(through_the_proxy(app, f"192.0.2.{n}, 198.51.100.7"), n)
    assert fail_to_sign_in(through_the_proxy(app, "192.0.2.99, 198.51.100.7"), 4).status_code == 429


@pytest.mark.parametrize("app_overrides", [LIMITS])
def test_with_no_trusted_proxy_a_forged_forwarded_for_is_ignored(app, db):
    for n in range(4):
        fail_to_sign_in(through_the_proxy(app, f"198.51.100.{n}"), n)

    assert fail_to_sign_in(through_the_proxy(app, "198.51.100.200"), 4).status_code == 429
    assert set(db.scalars(select(LoginAttempt.ip_address))) == {PROXY}


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_TRUSTED_PROXIES": 1}])
def test_an_https_proxy_makes_the_request_secure(app, db):
    response = through_the_proxy(app, "198.51.100.7", x_forwarded_proto="https").get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert through_the_proxy(app, "198.51.100.7").get("/login").headers.get("Strict-Transport-Security") is None


def test_with_no_trusted_proxy_a_forged_https_header_is_ignored(app, db):
    response = through_the_proxy(app, "198.51.100.7", x_forwarded_proto="https").get("/login")
    assert response.headers.get("Strict-Transport-Security") is None


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_TRUSTED_PROXIES": 1, "ACQUIT_LOG_FORMAT": "json"}])
def test_the_request_line_gives_the_clients_address(app, db, capfd):
    capfd.readouterr()
    through_the_proxy(app, "198.51.100.7").get("/healthz")
    assert '"remote_addr": "198.51.100.7"' in capfd.readouterr().err


def test_a_negative_number_of_proxies_is_refused_at_start_up(database_url):
    with pytest.raises(ConfigurationError, match="ACQUIT_TRUSTED_PROXIES"):
        create_app(app_config(database_url, ACQUIT_TRUSTED_PROXIES=-1))
