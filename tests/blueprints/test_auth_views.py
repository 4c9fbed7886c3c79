"""Signing in and out, and resetting a forgotten password, through HTTP and real SMTP."""

import re
import statistics
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from portal.models import LoginAttempt, OutboxMessage
from portal.services import services_of
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import ask_for_a_reset, csrf_token, page, visible_text
from tests.builders import Builders

pytestmark = pytest.mark.usefixtures("english")

WRONG_CREDENTIALS = "Wrong e-mail or password."
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def clerk(make):
    return make.user(make.company(locale="en"), email="clerk@customer.test")


@pytest.fixture
def staff(make):
    return make.staff(email="collector@supplier.test")


def sign_in(client, email, password=Builders.PASSWORD, next_url=None):
    url = "/login" if next_url is None else "/login?" + urlencode({"next": next_url})
    return client.post(url, data={"email": email, "password": password})


def login_error(response) -> str:
    return page(response).find(role="alert").text


# --- Signing in ------------------------------------------------------------------------------


def test_a_clerk_signs_in_and_lands_on_their_invoices(client, clerk):
    response = sign_in(client, clerk.email)

    assert response.status_code == 303
    assert response.headers["Location"] == "/invoices"
    assert client.get("/invoices").status_code == 200


def test_staff_sign_in_and_land_on_the_collections_dashboard(client, staff):
    response = sign_in(client, staff.email)

    assert response.status_code == 303
    assert response.headers["Location"] == "/collections/"
    assert client.get("/collections/").status_code == 200


def test_the_email_is_matched_whatever_its_case_and_spacing(client, clerk):
    assert sign_in(client, "  CLERK@Customer.Test ").status_code == 303


def test_a_local_next_page_is_honoured_after_sign_in(client, clerk, make):
    invoice = make.invoice(clerk.company)

    response = sign_in(client, clerk.email, next_url=f"/invoices/{invoice.id}?tab=history")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{invoice.id}?tab=history"


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.com",
        "//evil.com/invoices",
        "https://evil.com",
        "https://evil.com/invoices",
        "/\\evil.com",
        "\\\\evil.com",
        "/\t/evil.com",
        "javascript:alert(1)",
        "evil.com",
    ],
)
def test_a_next_page_on_another_site_is_ignored(client, clerk, next_url):
    response = sign_in(client, clerk.email, next_url=next_url)

    assert response.status_code == 303
    assert response.headers["Location"] == "/invoices"


def test_the_anonymous_redirect_to_sign_in_carries_the_page_and_sign_in_returns_there(client, clerk, make):
    invoice = make.invoice(clerk.company)
    make.session.commit()

    bounced = client.get(f"/invoices/{invoice.id}")
    assert bounced.status_code == 302
    login_url = bounced.headers["Location"]
    assert login_url.startswith("/login?next=")

    response = client.post(login_url, data={"email": clerk.email, "password": Builders.PASSWORD})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/invoices/{invoice.id}"


def test_an_htmx_request_after_the_session_ended_loads_the_sign_in_page_whole(client, clerk):
    # The browser shows /invoices?status=open; a filter change asks htmx for the results fragment.
    response = client.get("/invoices", query_string={"status": "overdue"}, headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/invoices?status=open"})

    assert response.status_code == 401
    assert response.data == b""
    assert response.headers["HX-Redirect"] == "/login?next=%2Finvoices%3Fstatus%3Dopen"
    signed_in = client.post(response.headers["HX-Redirect"], data={"email": clerk.email,
                                                                   "password": Builders.PASSWORD})
    assert signed_in.headers["Location"] == "/invoices?status=open"


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, clerk, db):
    wrong_password = sign_in(client, clerk.email, password="not the password")
    unknown_email = sign_in(client, "nobody@customer.test")

    assert wrong_password.status_code == unknown_email.status_code == 200
    assert login_error(wrong_password) == login_error(unknown_email) == WRONG_CREDENTIALS
    # Both failures are recorded, so both count towards the limit.
    failures = db.scalars(select(LoginAttempt.email).where(LoginAttempt.succeeded.is_(False))).all()
    assert sorted(failures) == ["clerk@customer.test", "nobody@customer.test"]
    assert client.get("/invoices").status_code == 302


def test_an_empty_form_is_refused_with_the_fields_marked(client):
    response = client.post("/login", data={"email": "", "password": ""})

    assert response.status_code == 400
    assert len(page(response).find_all("small", class_="error")) == 2


def test_a_deactivated_user_cannot_sign_in(client, make):
    user = make.user(make.company(locale="en"), active=False)

    response = sign_in(client, user.email)

    assert login_error(response) == WRONG_CREDENTIALS


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_LOGIN_MAX_FAILURES": 3}])
def test_after_too_many_failures_even_the_right_password_is_refused(client, clerk):
    for _ in range(2):
        assert login_error(sign_in(client, clerk.email, password="guess")) == WRONG_CREDENTIALS
    # Below the limit the right password still works...
    assert sign_in(client, clerk.email).status_code == 303
    client.post("/logout")

    assert login_error(sign_in(client, clerk.email, password="guess")) == WRONG_CREDENTIALS
    # ...three failures in the window, and it no longer does.
    response = sign_in(client, clerk.email)

    assert response.status_code == 429
    assert "Too many failed attempts" in login_error(response)
    assert client.get("/invoices").status_code == 302


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_LOGIN_MAX_FAILURES": 2}])
def test_the_limit_counts_per_email_so_a_colleague_can_still_sign_in(client, clerk, make):
    colleague = make.user(clerk.company)
    for _ in range(2):
        sign_in(client, clerk.email, password="guess")
    assert sign_in(client, clerk.email).status_code == 429

    assert sign_in(client, colleague.email).status_code == 303


def test_a_signed_in_user_visiting_the_sign_in_page_is_sent_home(login_as, clerk):
    client = login_as(clerk)

    response = client.get("/login")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- Signing out -----------------------------------------------------------------------------


def test_signing_out_needs_a_post(login_as, clerk):
    client = login_as(clerk)

    response = client.get("/logout")

    assert response.status_code == 405
    assert client.get("/invoices").status_code == 200


def test_signing_out_ends_the_session(login_as, clerk):
    client = login_as(clerk)

    response = client.post("/logout")

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "You are signed out." in visible_text(client.get("/login"))
    assert client.get("/invoices").status_code == 302


def copy_of_the_session(app, client):
    """Another browser holding a copy of `client`'s session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_a_copied_session_cookie_stops_working_after_sign_out(app, login_as, clerk):
    client = login_as(clerk)
    thief = copy_of_the_session(app, client)
    assert thief.get("/invoices").status_code == 200

    client.post("/logout")

    bounced = thief.get("/invoices")
    assert bounced.status_code == 302
    assert bounced.headers["Location"].startswith("/login")


def test_signing_out_ends_the_users_sessions_in_other_browsers_too(app, client, clerk):
    elsewhere = app.test_client()
    assert sign_in(elsewhere, clerk.email).status_code == 303
    assert sign_in(client, clerk.email).status_code == 303

    client.post("/logout")

    assert elsewhere.get("/invoices").status_code == 302


def test_sign_in_starts_a_fresh_session(client, clerk):
    with client.session_transaction() as planted:
        planted["planted_before_sign_in"] = "by someone else"
        planted["lang"] = "en"

    sign_in(client, clerk.email)

    with client.session_transaction() as after:
        assert "planted_before_sign_in" not in after
        assert after["lang"] == "en"
        assert after["_user_id"] == clerk.get_id()


# --- Throttling --------------------------------------------------------------------------------


def from_address(app, address):
    """A browser of its own, at client address `address`."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    set_language(browser, "en")
    return browser


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_LOGIN_MAX_FAILURES": 3}])
def test_past_the_limit_a_guesser_is_told_how_long_to_wait(app, clerk):
    guesser = from_address(app, "198.51.100.66")
    for _ in range(3):
        assert login_error(sign_in(guesser, clerk.email, password="guess")) == WRONG_CREDENTIALS

    refused = sign_in(guesser, clerk.email, password="guess")

    assert refused.status_code == 429
    # 30 seconds from the last failure, less what a busy machine took to get here.
    wait = int(refused.headers["Retry-After"])
    assert 20 <= wait <= 30
    assert login_error(refused) == f"Too many failed attempts. Try again in {wait} seconds, or reset your password."


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_LOGIN_MAX_FAILURES": 3}])
def test_a_stranger_guessing_cannot_keep_the_owner_out_of_a_browser_they_signed_in_from(app, clerk):
    owner = from_address(app, "192.0.2.10")
    assert sign_in(owner, clerk.email).status_code == 303
    owner.post("/logout")
    for n in range(12):
        sign_in(from_address(app, f"198.51.100.{n}"), clerk.email, password=f"guess {n}")
    # A new browser must wait: that is what slows the stranger down...
    assert sign_in(from_address(app, "192.0.2.11"), clerk.email).status_code == 429

    # ...but the owner's own browser, which remembers signing them in, goes straight in.
    assert sign_in(owner, clerk.email).status_code == 303
    assert owner.get("/invoices").status_code == 200


@pytest.mark.parametrize("app_overrides", [{"ACQUIT_LOGIN_MAX_FAILURES": 3}])
def test_a_forged_device_cookie_is_no_way_around_the_wait(app, clerk):
    for n in range(3):
        sign_in(from_address(app, f"198.51.100.{n}"), clerk.email, password=f"guess {n}")
    forger = from_address(app, "192.0.2.99")
    forger.set_cookie("acquit_device", f"[{clerk.id}].forged")

    assert sign_in(forger, clerk.email).status_code == 429


# --- Changing the password -------------------------------------------------------------------


def test_changing_the_password_ends_every_other_session_and_keeps_this_one(app, login_as, clerk):
    client = login_as(clerk)
    thief = copy_of_the_session(app, client)
    elsewhere = app.test_client()
    assert sign_in(elsewhere, clerk.email).status_code == 303

    response = client.post("/password", data={"current_password": Builders.PASSWORD, "password": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD})

    assert response.status_code == 303
    assert "You are signed out everywhere else." in visible_text(client.get(response.headers["Location"]))
    assert client.get("/invoices").status_code == 200
    assert thief.get("/invoices").status_code == 302
    assert elsewhere.get("/invoices").status_code == 302
    client.post("/logout")
    assert sign_in(client, clerk.email, password=NEW_PASSWORD).status_code == 303


def test_a_wrong_current_password_changes_nothing_and_says_so(login_as, clerk):
    client = login_as(clerk)

    response = client.post("/password", data={"current_password": "not it", "password": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD})

    assert response.status_code == 200
    assert "This is not your current password." in visible_text(response)
    assert client.get("/invoices").status_code == 200
    client.post("/logout")
    assert sign_in(client, clerk.email).status_code == 303


def test_staff_change_their_password_too(login_as, staff):
    client = login_as(staff)

    response = client.post("/password", data={"current_password": Builders.PASSWORD, "password": NEW_PASSWORD,
                                              "confirm": NEW_PASSWORD})

    assert response.status_code == 303
    assert response.headers["Location"] == "/collections/"


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_overrides", [{"WTF_CSRF_ENABLED": True}])
class TestCsrf:
    def test_a_sign_in_without_the_token_is_refused_with_a_clear_page(self, client, clerk):
        response = sign_in(client, clerk.email)

        assert response.status_code == 400
        assert "This form has expired. Reload the page and try again." in visible_text(response)
        assert client.get("/invoices").status_code == 302

    def test_a_sign_in_with_the_token_from_the_form_works(self, client, clerk):
        token = csrf_token(client.get("/login"))

        response = client.post("/login", data={"email": clerk.email, "password": Builders.PASSWORD,
                                               "csrf_token": token})

        assert response.status_code == 303

    def test_an_api_client_gets_the_csrf_refusal_as_json(self, client, clerk):
        response = client.post("/login", data={"email": clerk.email, "password": Builders.PASSWORD},
                               headers={"Accept": "application/json"})

        assert response.status_code == 400
        assert response.json["error"]["code"] == "form_expired"

    def test_signing_out_without_the_token_leaves_the_user_signed_in(self, client, clerk):
        token = csrf_token(client.get("/login"))
        client.post("/login", data={"email": clerk.email, "password": Builders.PASSWORD, "csrf_token": token})

        assert client.post("/logout").status_code == 400
        assert client.get("/invoices").status_code == 200


# --- Password reset, end to end through a real SMTP server -----------------------------------


def reset_link(received) -> str:
    match = re.search(r"http://portal\.test(/reset-password/\S+)", received.text_body())
    assert match, received.text_body()
    return match.group(1)


class TestPasswordReset:
    @pytest.fixture
    def app_overrides(self, smtp_server):
        return smtp_server.app_config

    def test_a_forgotten_password_is_reset_through_the_emailed_link(self, client, clerk, smtp_server):
        response = ask_for_a_reset(client, clerk.email)

        assert response.status_code == 303
        assert response.headers["Location"] == "/login"
        assert "If an account uses that address" in visible_text(client.get("/login"))
        [received] = smtp_server.messages
        assert received.recipients == [clerk.email]
        assert received.message["To"] == clerk.email
        assert "Reset your password" in received.message["Subject"]
        link = reset_link(received)

        assert client.get(link).status_code == 200
        changed = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert changed.status_code == 303
        assert changed.headers["Location"] == "/login"
        assert "Your password is changed." in visible_text(client.get("/login"))

        assert sign_in(client, clerk.email, password=NEW_PASSWORD).status_code == 303
        client.post("/logout")
        assert login_error(sign_in(client, clerk.email)) == WRONG_CREDENTIALS

        used_again = client.post(link, data={"password": "yet another passphrase", "confirm": "yet another passphrase"})
        assert used_again.status_code == 400
        assert "This link has expired or was already used." in visible_text(used_again)
        assert login_error(sign_in(client, clerk.email, password="yet another passphrase")) == WRONG_CREDENTIALS

    def test_an_unknown_email_gets_the_same_answer_and_no_email(self, client, clerk, smtp_server, db):
        known = ask_for_a_reset(client, clerk.email)
        known_page = visible_text(client.get("/login"))
        unknown = ask_for_a_reset(client, "nobody@customer.test")
        unknown_page = visible_text(client.get("/login"))

        assert (unknown.status_code, unknown.headers["Location"]) == (known.status_code, known.headers["Location"])
        assert unknown_page == known_page
        assert [m.recipients for m in smtp_server.messages] == [[clerk.email]]
        assert db.scalars(select(OutboxMessage.recipients)).all() == [[clerk.email]]

    def test_a_reset_signs_out_the_users_other_sessions(self, app, client, clerk, smtp_server):
        elsewhere = app.test_client()
        set_language(elsewhere, "en")
        assert sign_in(elsewhere, clerk.email).status_code == 303
        assert elsewhere.get("/invoices").status_code == 200

        ask_for_a_reset(client, clerk.email)
        link = reset_link(smtp_server.messages[0])
        assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303

        bounced = elsewhere.get("/invoices")
        assert bounced.status_code == 302
        assert bounced.headers["Location"].startswith("/login")

    def test_the_answer_takes_the_same_time_whether_or_not_the_address_exists(self, client, clerk, smtp_server):
        def seconds_to_answer(email):
            started = time.perf_counter()
            response = client.post("/forgot-password", data={"email": email})
            elapsed = time.perf_counter() - started
            response.close()  # the e-mail, if any, goes now: after the answer, as a real server closes it
            return elapsed

        known = [seconds_to_answer(clerk.email) for _ in range(3)]
        unknown = [seconds_to_answer(f"nobody{n}@customer.test") for n in range(3)]

        assert len(smtp_server.messages) == 3
        floor = client.application.config["ACQUIT_PASSWORD_RESET_ANSWER_SECONDS"]
        assert min(known + unknown) >= floor
        assert abs(statistics.median(known) - statistics.median(unknown)) < 0.05

    def test_an_address_gets_three_reset_emails_an_hour_and_the_fourth_request_looks_the_same(
            self, app, client, clerk, smtp_server):
        answers = []
        for n in range(4):
            response = ask_for_a_reset(from_address(app, f"198.51.100.{n}"), clerk.email)
            answers.append((response.status_code, response.headers["Location"]))

        assert len(set(answers)) == 1
        assert len(smtp_server.messages) == 3

    def test_one_client_asking_about_many_addresses_is_cut_off_after_ten(self, app, make, clerk, smtp_server):
        client = from_address(app, "198.51.100.7")
        for n in range(10):
            ask_for_a_reset(client, f"nobody{n}@customer.test")

        assert ask_for_a_reset(client, clerk.email).status_code == 303
        assert smtp_server.messages == []
        ask_for_a_reset(from_address(app, "192.0.2.8"), clerk.email)
        assert [m.recipients for m in smtp_server.messages] == [[clerk.email]]

    def test_a_tampered_link_is_refused(self, client, clerk, smtp_server):
        ask_for_a_reset(client, clerk.email)
        link = reset_link(smtp_server.messages[0])

        response = client.post(link[:-2] + "xx", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

        assert response.status_code == 400
        assert "This link has expired or was already used." in visible_text(response)
        assert sign_in(client, clerk.email).status_code == 303

    def test_a_short_or_mismatched_new_password_is_refused_and_the_link_still_works(self, client, clerk, smtp_server):
        ask_for_a_reset(client, clerk.email)
        link = reset_link(smtp_server.messages[0])

        too_short = client.post(link, data={"password": "short", "confirm": "short"})
        mismatched = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})

        assert too_short.status_code == mismatched.status_code == 400
        assert "At least 10 characters." in visible_text(too_short)
        assert "The two passwords differ." in visible_text(mismatched)
        assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303

    def test_an_expired_link_is_refused(self, app, client, clerk, smtp_server):
        ask_for_a_reset(client, clerk.email)
        link = reset_link(smtp_server.messages[0])
        # As if the hour had passed: any age is now past the limit.
        services_of(app).set_password_links.reset_max_age = -1

        response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

        assert response.status_code == 400
        assert "This link has expired or was already used." in visible_text(response)
