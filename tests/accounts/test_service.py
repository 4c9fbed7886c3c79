"""Signing in (with its rate limits) and resetting a forgotten password, without a request."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select

from portal.accounts.errors import InvalidCredentials, InvalidResetToken, TooManyAttempts, WeakPassword
from portal.accounts.service import (
    LoginPolicy,
    ResetLimits,
    SetPasswordLinks,
    authenticate,
    change_password,
    end_sessions,
    request_password_reset,
    set_password_from_link,
)
from portal.mail.outbox import take_enqueued_ids
from portal.models import LoginAttempt, OutboxMessage
from tests.builders import Builders

SECRET = "test-secret-for-reset-links"
PASSWORD = Builders.PASSWORD
NEW_PASSWORD = "a brand new passphrase"
IP = "203.0.113.7"
NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
POLICY = LoginPolicy(max_failures=3, window=timedelta(minutes=15))
HOUR = 3600


def _sign_in(db, email, password, *, ip=IP, now=NOW):
    return authenticate(db, email, password, ip_address=ip, policy=POLICY, now=now)


def _fail(db, email, *, ip=IP, now=NOW, times=1):
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            _sign_in(db, email, "wrong password", ip=ip, now=now)


def _failed_before(db, email, *, ip=IP, at=NOW, times=1):
    """Failed attempts already on record (as `authenticate` leaves them), without hashing each."""
    db.add_all(LoginAttempt(email=email, ip_address=ip, succeeded=False, attempted_at=at) for _ in range(times))
    db.flush()


def _outbox_count(db) -> int:
    return db.scalar(select(func.count()).select_from(OutboxMessage))


def _request_reset(db, email):
    request_password_reset(db, email, client_address=IP, links=_links(), supplier_name="Supplier SA",
                           locale_fallback="en")


def _reset_link_token(db, user) -> str:
    """Ask for a reset link for `user` and read the token from the e-mail it leaves in the outbox."""
    _request_reset(db, user.email)
    message = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    return re.search(r"http://portal\.test/reset-password/(\S+)", message.body_text).group(1)


def _links(secret=SECRET, max_age=HOUR) -> SetPasswordLinks:
    return SetPasswordLinks(secret, "http://portal.test", reset_max_age=max_age)


def _reset(db, token, password=NEW_PASSWORD, max_age=HOUR, secret=SECRET):
    return set_password_from_link(db, token, password, links=_links(secret, max_age), purpose=SetPasswordLinks.RESET)


# --- Signing in ----------------------------------------------------------------------------


def test_authenticate_returns_the_user_for_the_right_password(db, make):
    user = make.user(make.company())
    assert _sign_in(db, user.email, PASSWORD) is user


def test_authenticate_refuses_a_wrong_password(db, make):
    user = make.user(make.company())
    with pytest.raises(InvalidCredentials):
        _sign_in(db, user.email, "not the password")


def test_authenticate_refuses_an_unknown_email_with_the_same_error_as_a_wrong_password(db, make):
    user = make.user(make.company())
    with pytest.raises(InvalidCredentials) as wrong_password:
        _sign_in(db, user.email, "not the password")
    with pytest.raises(InvalidCredentials) as unknown_email:
        _sign_in(db, "nobody@example.test", PASSWORD)
    assert type(unknown_email.value) is type(wrong_password.value)
    assert str(unknown_email.value) == str(wrong_password.value)


def test_authenticate_refuses_an_inactive_user_with_the_right_password(db, make):
    user = make.user(make.company(), active=False)
    with pytest.raises(InvalidCredentials):
        _sign_in(db, user.email, PASSWORD)


def test_authenticate_refuses_a_user_without_a_password(db, make):
    user = make.user(make.company())
    user.password_hash = None
    with pytest.raises(InvalidCredentials):
        _sign_in(db, user.email, "")


def test_authenticate_reads_the_email_whatever_its_case_and_surrounding_spaces(db, make):
    user = make.user(make.company(), email="clerk@example.test")
    assert _sign_in(db, "  Clerk@EXAMPLE.test ", PASSWORD) is user


def test_authenticate_records_each_attempt_and_whether_it_succeeded(db, make):
    user = make.user(make.company(), email="clerk@example.test")
    _fail(db, "CLERK@example.test")
    _sign_in(db, user.email, PASSWORD)
    db.flush()
    attempts = db.execute(
        select(LoginAttempt.email, LoginAttempt.ip_address, LoginAttempt.succeeded).order_by(LoginAttempt.id)
    ).all()
    assert [tuple(attempt) for attempt in attempts] == [
        ("clerk@example.test", IP, False), ("clerk@example.test", IP, True),
    ]


def test_after_too_many_failures_even_the_right_password_must_wait(db, make):
    user = make.user(make.company())
    _failed_before(db, user.email, times=POLICY.max_failures)
    with pytest.raises(TooManyAttempts) as refusal:
        _sign_in(db, user.email, PASSWORD)
    assert refusal.value.retry_after == POLICY.first_wait


def test_authenticate_allows_one_failure_short_of_the_limit(db, make):
    user = make.user(make.company())
    _failed_before(db, user.email, times=POLICY.max_failures - 1)
    assert _sign_in(db, user.email, PASSWORD) is user


def test_the_wait_is_counted_from_the_last_failure_and_ends(db, make):
    user = make.user(make.company())
    _failed_before(db, user.email, times=POLICY.max_failures, at=NOW)
    with pytest.raises(TooManyAttempts) as refusal:
        _sign_in(db, user.email, PASSWORD, now=NOW + POLICY.first_wait - timedelta(seconds=1))
    assert refusal.value.retry_after == timedelta(seconds=1)
    assert _sign_in(db, user.email, PASSWORD, now=NOW + POLICY.first_wait) is user


@pytest.mark.parametrize(("failures_beyond_the_limit", "wait"), [
    (0, timedelta(seconds=30)), (1, timedelta(seconds=60)), (2, timedelta(seconds=120)),
    (4, timedelta(seconds=480)), (5, timedelta(minutes=15)), (40, timedelta(minutes=15)),
])
def test_each_further_failure_doubles_the_wait_up_to_the_longest(db, make, failures_beyond_the_limit, wait):
    user = make.user(make.company())
    _failed_before(db, user.email, times=POLICY.max_failures + failures_beyond_the_limit)
    with pytest.raises(TooManyAttempts) as refusal:
        _sign_in(db, user.email, PASSWORD)
    assert refusal.value.retry_after == wait


def test_failures_for_an_email_count_whatever_its_case(db, make):
    make.user(make.company(), email="clerk@example.test")
    _fail(db, "CLERK@example.test", times=POLICY.max_failures)
    with pytest.raises(TooManyAttempts):
        _sign_in(db, "clerk@example.test", PASSWORD)


def test_failures_for_an_email_count_from_any_address(db, make):
    user = make.user(make.company())
    for n in range(POLICY.max_failures):
        _failed_before(db, user.email, ip=f"198.51.100.{n}")
    with pytest.raises(TooManyAttempts):
        _sign_in(db, user.email, PASSWORD, ip="192.0.2.1")


def test_a_stranger_guessing_from_elsewhere_does_not_keep_the_owner_out_of_a_browser_they_used_before(db, make):
    user = make.user(make.company())
    for n in range(POLICY.max_failures * 3):
        _failed_before(db, user.email, ip=f"198.51.100.{n}")
    assert authenticate(db, user.email, PASSWORD, ip_address="192.0.2.1", policy=POLICY,
                        known_user_ids=frozenset({user.id}), now=NOW) is user


def test_a_known_browser_still_waits_after_failures_from_its_own_address(db, make):
    user = make.user(make.company())
    _failed_before(db, user.email, ip=IP, times=POLICY.max_failures)
    with pytest.raises(TooManyAttempts):
        authenticate(db, user.email, PASSWORD, ip_address=IP, policy=POLICY, known_user_ids=frozenset({user.id}),
                     now=NOW)


def test_a_browser_known_for_a_colleague_is_no_pass_for_another_account(db, make):
    company = make.company()
    target, colleague = make.user(company), make.user(company)
    _failed_before(db, target.email, ip="198.51.100.1", times=POLICY.max_failures)
    with pytest.raises(TooManyAttempts):
        authenticate(db, target.email, PASSWORD, ip_address=IP, policy=POLICY,
                     known_user_ids=frozenset({colleague.id}), now=NOW)


def test_failures_for_one_email_do_not_slow_another(db, make):
    company = make.company()
    target, colleague = make.user(company), make.user(company)
    _failed_before(db, target.email, times=POLICY.max_failures)
    assert _sign_in(db, colleague.email, PASSWORD) is colleague


def test_the_email_limit_lifts_once_the_failures_fall_out_of_the_window(db, make):
    user = make.user(make.company())
    _failed_before(db, user.email, times=POLICY.max_failures + 20, at=NOW)
    assert _sign_in(db, user.email, PASSWORD, now=NOW + POLICY.window + timedelta(seconds=1)) is user


def test_successful_sign_ins_do_not_count_towards_the_limit(db, make):
    user = make.user(make.company())
    db.add_all(LoginAttempt(email=user.email, ip_address=IP, succeeded=True, attempted_at=NOW)
               for _ in range(POLICY.max_failures * 4))
    assert _sign_in(db, user.email, PASSWORD) is user


def test_an_address_must_wait_after_four_times_the_limit_of_failures_across_emails(db, make):
    user = make.user(make.company())
    for n in range(POLICY.max_failures * 4):
        _failed_before(db, f"guess{n}@example.test")
    with pytest.raises(TooManyAttempts):
        _sign_in(db, user.email, PASSWORD)


def test_an_address_shared_by_colleagues_gets_more_room_than_one_email(db, make):
    user = make.user(make.company())
    for n in range(POLICY.max_failures * 4 - 1):
        _failed_before(db, f"colleague{n}@example.test")
    assert _sign_in(db, user.email, PASSWORD) is user


def test_the_address_limit_does_not_reach_other_addresses(db, make):
    user = make.user(make.company())
    for n in range(POLICY.max_failures * 4):
        _failed_before(db, f"guess{n}@example.test", ip=IP)
    assert _sign_in(db, user.email, PASSWORD, ip="192.0.2.99") is user


def test_a_refused_attempt_is_not_recorded_so_hammering_does_not_lengthen_the_wait(db, make):
    user = make.user(make.company())
    _fail(db, user.email, times=POLICY.max_failures)
    for _ in range(3):
        with pytest.raises(TooManyAttempts):
            _sign_in(db, user.email, "another guess")
    db.flush()
    assert db.scalar(select(func.count()).select_from(LoginAttempt)) == POLICY.max_failures


# --- Ending sessions and changing the password -------------------------------------------------


def test_ending_sessions_changes_the_id_every_session_cookie_names(db, make):
    user = make.user(make.company())
    before = user.get_id()
    end_sessions(user)
    assert user.get_id() != before


def test_changing_the_password_needs_the_current_one_and_ends_every_session(db, make):
    user = make.user(make.company())
    before = user.get_id()
    with pytest.raises(InvalidCredentials):
        change_password(db, user, "not my password", NEW_PASSWORD, ip_address=IP, policy=POLICY)
    assert user.get_id() == before
    change_password(db, user, PASSWORD, NEW_PASSWORD, ip_address=IP, policy=POLICY)
    assert user.get_id() != before
    assert _sign_in(db, user.email, NEW_PASSWORD) is user


def test_guessing_the_current_password_is_slowed_as_signing_in_is(db, make):
    user = make.user(make.company())
    _failed_before(db, user.email, times=POLICY.max_failures)
    with pytest.raises(TooManyAttempts):
        change_password(db, user, PASSWORD, NEW_PASSWORD, ip_address=IP, policy=POLICY, now=NOW)


def test_a_new_password_too_short_is_refused_and_changes_nothing(db, make):
    user = make.user(make.company())
    with pytest.raises(WeakPassword):
        change_password(db, user, PASSWORD, "short", ip_address=IP, policy=POLICY)
    assert _sign_in(db, user.email, PASSWORD) is user


# --- Password reset ------------------------------------------------------------------------


def test_request_password_reset_enqueues_one_email_to_a_known_user(db, make):
    user = make.user(make.company(), email="clerk@example.test")
    _request_reset(db, "Clerk@Example.test")
    [message] = db.scalars(select(OutboxMessage)).all()
    assert message.recipients == ["clerk@example.test"]
    assert "http://portal.test/reset-password/" in message.body_text
    assert message.status == "pending"
    assert user.email in message.body_text


def test_request_password_reset_enqueues_nothing_for_an_unknown_email(db, make):
    make.user(make.company())
    _request_reset(db, "nobody@example.test")
    assert _outbox_count(db) == 0


def test_request_password_reset_sends_its_email_only_after_the_answer(db, make):
    user = make.user(make.company())
    _request_reset(db, user.email)
    assert take_enqueued_ids(db) == set()
    assert len(take_enqueued_ids(db, after_response=True)) == _outbox_count(db) == 1


def test_an_address_gets_at_most_its_limit_of_reset_emails_per_window(db, make):
    user = make.user(make.company())
    limits = ResetLimits(per_email=2, per_client=100)
    for n in range(4):
        request_password_reset(db, user.email.upper(), client_address=f"198.51.100.{n}", links=_links(),
                               supplier_name="S", locale_fallback="en", limits=limits, now=NOW)
    assert _outbox_count(db) == 2
    request_password_reset(db, user.email, client_address=IP, links=_links(), supplier_name="S",
                           locale_fallback="en", limits=limits, now=NOW + limits.window + timedelta(seconds=1))
    assert _outbox_count(db) == 3


def test_a_client_asking_for_many_addresses_is_limited_unknown_addresses_included(db, make):
    user = make.user(make.company())
    limits = ResetLimits(per_email=100, per_client=3)
    for n in range(3):
        request_password_reset(db, f"nobody{n}@example.test", client_address=IP, links=_links(), supplier_name="S",
                               locale_fallback="en", limits=limits, now=NOW)
    request_password_reset(db, user.email, client_address=IP, links=_links(), supplier_name="S",
                           locale_fallback="en", limits=limits, now=NOW)
    assert _outbox_count(db) == 0
    request_password_reset(db, user.email, client_address="192.0.2.50", links=_links(), supplier_name="S",
                           locale_fallback="en", limits=limits, now=NOW)
    assert _outbox_count(db) == 1


def test_request_password_reset_enqueues_nothing_for_an_inactive_user(db, make):
    user = make.user(make.company(), active=False)
    _request_reset(db, user.email)
    assert _outbox_count(db) == 0


def test_reset_password_sets_the_new_password(db, make):
    user = make.user(make.company())
    _reset(db, _reset_link_token(db, user))
    assert _sign_in(db, user.email, NEW_PASSWORD) is user


def test_reset_password_retires_the_old_password(db, make):
    user = make.user(make.company())
    _reset(db, _reset_link_token(db, user))
    with pytest.raises(InvalidCredentials):
        _sign_in(db, user.email, PASSWORD)


def test_reset_password_bumps_the_session_version_to_end_other_sessions(db, make):
    user = make.user(make.company())
    before = user.session_version
    _reset(db, _reset_link_token(db, user))
    assert user.session_version == before + 1
    assert user.get_id() == f"{user.id}.{before + 1}"


def test_a_reset_link_works_only_once(db, make):
    user = make.user(make.company())
    token = _reset_link_token(db, user)
    _reset(db, token)
    with pytest.raises(InvalidResetToken):
        _reset(db, token, password="yet another passphrase")
    assert _sign_in(db, user.email, NEW_PASSWORD) is user


def test_an_older_reset_link_stops_working_once_a_newer_one_is_used(db, make):
    user = make.user(make.company())
    older, newer = _reset_link_token(db, user), _reset_link_token(db, user)
    _reset(db, newer)
    with pytest.raises(InvalidResetToken):
        _reset(db, older)


def test_an_expired_reset_link_is_refused(db, make, monkeypatch):
    user = make.user(make.company())
    two_hours_ago = int(NOW.timestamp()) - 2 * HOUR
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: two_hours_ago)
    token = _reset_link_token(db, user)
    monkeypatch.undo()
    with pytest.raises(InvalidResetToken):
        _reset(db, token, max_age=HOUR)


def test_a_reset_link_within_its_max_age_is_accepted(db, make, monkeypatch):
    user = make.user(make.company())
    two_hours_ago = int(datetime.now(UTC).timestamp()) - 2 * HOUR
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: two_hours_ago)
    token = _reset_link_token(db, user)
    monkeypatch.undo()
    assert _reset(db, token, max_age=3 * HOUR) is user


def test_a_tampered_reset_link_is_refused(db, make):
    user = make.user(make.company())
    token = _reset_link_token(db, user)
    payload, _, signature = token.rpartition(".")
    tampered = f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    with pytest.raises(InvalidResetToken):
        _reset(db, tampered)


def test_a_reset_link_signed_with_another_secret_is_refused(db, make):
    user = make.user(make.company())
    token = _reset_link_token(db, user)
    with pytest.raises(InvalidResetToken):
        _reset(db, token, secret="another-secret")


def test_a_reset_link_for_a_user_deactivated_since_is_refused(db, make):
    user = make.user(make.company())
    token = _reset_link_token(db, user)
    user.is_active = False
    with pytest.raises(InvalidResetToken):
        _reset(db, token)


def test_reset_password_refuses_a_weak_password_and_keeps_the_old_one(db, make):
    user = make.user(make.company())
    token = _reset_link_token(db, user)
    with pytest.raises(WeakPassword):
        _reset(db, token, password="short")
    assert _sign_in(db, user.email, PASSWORD) is user


def test_a_reset_link_refused_for_a_weak_password_still_works_for_a_strong_one(db, make):
    user = make.user(make.company())
    token = _reset_link_token(db, user)
    with pytest.raises(WeakPassword):
        _reset(db, token, password="short")
    assert _reset(db, token) is user
