"""A process started with a wrong setting stops with one line naming the setting, not a traceback:
what an operator reads in `journalctl` or a container's log."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.demo import DEMO_SUPPLIER

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def started_with(tmp_path, command: list[str], **settings: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ACQUIT_DATABASE_URL": f"sqlite:///{tmp_path / 'acquit.sqlite3'}",
                   "ACQUIT_SECRET_KEY": "config-test-secret", **DEMO_SUPPLIER, **settings}
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("settings", "said"), [
    ({"ACQUIT_TRUSTED_PROXIES": "two"}, "acquit: ACQUIT_TRUSTED_PROXIES must be a whole number, not 'two'"),
    ({"ACQUIT_TRUSTED_PROXIES": "-1"}, "acquit: ACQUIT_TRUSTED_PROXIES is a number of proxies (0 or more), not -1"),
    ({"ACQUIT_LOG_FORMAT": "xml"}, "acquit: ACQUIT_LOG_FORMAT must be one of json, text, not 'xml'"),
    ({"ACQUIT_PAYMENT_GATEWAY": "paypal"}, "acquit: unknown ACQUIT_PAYMENT_GATEWAY 'paypal': use 'stripe'"),
    ({"ACQUIT_SMTP_PORT": "25a"}, "acquit: ACQUIT_SMTP_PORT must be a whole number, not '25a'"),
    ({"ACQUIT_SUPPLIER_SIREN": ""}, "acquit: The supplier's legal identity, printed on every invoice, is incomplete or "
                                    "wrong: ACQUIT_SUPPLIER_SIREN is not set (its 9-digit SIREN number). "
                                    "See the Configuration section of README.md."),
])
def test_the_acquit_command_names_the_wrong_setting_in_one_line(tmp_path, settings, said):
    started = started_with(tmp_path, [BIN / "acquit", "db", "upgrade"], **settings)

    assert started.returncode == 1
    assert started.stderr.strip() == said
    assert not (tmp_path / "acquit.sqlite3").exists()


def test_the_help_names_a_wrong_setting_in_one_line_and_still_shows_the_usage(tmp_path):
    started = started_with(tmp_path, [BIN / "acquit", "--help"], ACQUIT_SUPPLIER_SIREN="")

    assert started.returncode == 0
    assert started.stderr.strip().startswith("acquit: The supplier's legal identity")
    assert "Traceback" not in started.stderr and len(started.stderr.strip().splitlines()) == 1
    assert "Usage: acquit" in started.stdout


def test_a_page_cache_url_that_is_not_redis_is_named(tmp_path):
    started = started_with(tmp_path, [sys.executable, "-c", "import wsgi"], ACQUIT_PAGE_CACHE_URL="http://cache:6379")

    assert started.returncode == 1
    assert started.stderr.strip() == ("acquit: ACQUIT_PAGE_CACHE_URL must be a Redis URL (redis://, rediss://, "
                                      "unix://…), not 'http://cache:6379'")


def test_a_page_cache_url_without_the_redis_package_says_what_to_install(tmp_path):
    without_redis = "import sys; sys.modules['redis'] = None; import wsgi"
    started = started_with(tmp_path, [sys.executable, "-c", without_redis], ACQUIT_PAGE_CACHE_URL="redis://cache:6379/0")

    assert started.returncode == 1
    assert started.stderr.strip() == ("acquit: ACQUIT_PAGE_CACHE_URL is set, but the redis package is not installed: "
                                      "pip install -e '.[redis]'")


def test_the_web_entry_point_names_the_wrong_setting_in_one_line(tmp_path):
    started = started_with(tmp_path, [sys.executable, "-c", "import wsgi"], ACQUIT_LOG_FORMAT="xml")

    assert started.returncode == 1
    assert started.stderr.strip() == "acquit: ACQUIT_LOG_FORMAT must be one of json, text, not 'xml'"


def test_with_acquit_demo_set_any_command_runs_as_the_demo_s_supplier(tmp_path):
    """The demo fills in a fictitious supplier; ACQUIT_DEMO=1 lets other commands reach its database as it."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("ACQUIT_SUPPLIER_")}
    environment |= {"ACQUIT_DATABASE_URL": f"sqlite:///{tmp_path / 'acquit.sqlite3'}",
                    "ACQUIT_SECRET_KEY": "config-test-secret", "ACQUIT_DEMO": "1"}
    for command in (["db", "upgrade"], ["apikey", "create", "erp"]):
        started = subprocess.run([BIN / "acquit", *command], cwd=ROOT, env=environment, capture_output=True, text=True,
                                 timeout=60)
        assert started.returncode == 0, started.stderr
    assert "API key 'erp' created" in started.stdout
