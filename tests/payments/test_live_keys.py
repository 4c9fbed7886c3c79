"""A live Stripe key charges real cards: the app refuses to start with one unless told it is meant."""

import pytest

from portal.app import create_app
from portal.payments.setup import GatewayMisconfigured
from portal.services import services_of
from tests.conftest import app_config

TEST_KEYS = {"ACQUIT_PAYMENT_GATEWAY": "stripe", "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
             "STRIPE_WEBHOOK_SECRET": "whsec_x"}


@pytest.mark.parametrize("live", [{"STRIPE_SECRET_KEY": "sk_live_51Hxyz"}, {"STRIPE_SECRET_KEY": "rk_live_51Hxyz"},
                                  {"STRIPE_PUBLISHABLE_KEY": "pk_live_51Hxyz"}])
def test_a_live_key_is_refused_at_start_up(database_url, tmp_path, live):
    with pytest.raises(GatewayMisconfigured, match="ACQUIT_ALLOW_LIVE_STRIPE_KEYS=1"):
        create_app(app_config(database_url, ACQUIT_ATTACHMENT_DIR=str(tmp_path), **{**TEST_KEYS, **live}))


def test_a_live_key_is_taken_when_the_setting_says_it_is_meant(database_url, tmp_path):
    live = {**TEST_KEYS, "STRIPE_SECRET_KEY": "sk_live_51Hxyz", "STRIPE_PUBLISHABLE_KEY": "pk_live_51Hxyz"}
    app = create_app(app_config(database_url, ACQUIT_ATTACHMENT_DIR=str(tmp_path), ACQUIT_ALLOW_LIVE_STRIPE_KEYS=True,
                                **live))

    assert services_of(app).payments.gateway.publishable_key == "pk_live_51Hxyz"


def test_test_keys_need_no_setting(database_url, tmp_path):
    app = create_app(app_config(database_url, ACQUIT_ATTACHMENT_DIR=str(tmp_path), **TEST_KEYS))

    assert services_of(app).payments.gateway.publishable_key == "pk_test_x"


def test_the_setting_is_read_from_the_environment(monkeypatch, tmp_path):
    from portal.config import Settings

    monkeypatch.setenv("ACQUIT_ALLOW_LIVE_STRIPE_KEYS", "1")
    assert Settings.from_environment().flask_config(str(tmp_path))["ACQUIT_ALLOW_LIVE_STRIPE_KEYS"] is True
    monkeypatch.delenv("ACQUIT_ALLOW_LIVE_STRIPE_KEYS")
    assert Settings.from_environment().flask_config(str(tmp_path))["ACQUIT_ALLOW_LIVE_STRIPE_KEYS"] is False
