"""The deployment as shipped in deploy/: `acquit db upgrade`, then gunicorn with its config, as the
systemd units and the compose file run them, with the example environment; its log is JSON
lines from start to stop."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from portal.demo import DEMO_SUPPLIER

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV_EXAMPLE = ROOT / "deploy" / "acquit.env.example"


def example_settings() -> dict[str, str]:
    """deploy/acquit.env.example read as systemd and Compose read it: NAME=value, quotes removed."""
    settings = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            settings[name] = value.removeprefix('"').removesuffix('"')
    return settings


def test_every_setting_in_the_example_environment_is_one_the_portal_or_gunicorn_reads():
    read = "\n".join(path.read_text() for path in (ROOT / "portal" / "config.py", ROOT / "deploy" / "gunicorn.conf.py"))
    assert [name for name in example_settings() if f'"{name}"' not in read] == []


def deploy_environment(database_url: str) -> dict:
    """The example environment, with a throwaway database, a real supplier identity and a free port."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(("ACQUIT_", "STRIPE_"))}
    return {**inherited, **example_settings(), **DEMO_SUPPLIER, "ACQUIT_DATABASE_URL": database_url,
            "ACQUIT_SECRET_KEY": "deploy-test-key", "ACQUIT_BIND": "127.0.0.1:0", "ACQUIT_WEB_WORKERS": "1",
            "ACQUIT_WEB_THREADS": "2"}


def listening_port(log: Path, server: subprocess.Popen, timeout: float) -> int:
    """The port gunicorn bound (port 0 asks the system for a free one), read from its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if match := re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text()):
            return int(match.group(1))
        assert server.poll() is None, f"gunicorn exited:\n{log.read_text()}"
        time.sleep(0.1)
    raise AssertionError(f"gunicorn did not start:\n{log.read_text()}")


def wait_until_answering(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # Accepted by the system while the worker still boots: the first answer may take seconds.
            if requests.get(url, timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


@pytest.mark.slow
def test_gunicorn_with_the_shipped_config_serves_health_and_readiness_and_logs_json_lines(tmp_path):
    environment = deploy_environment(f"sqlite:///{tmp_path / 'acquit.sqlite3'}")
    migrated = subprocess.run([BIN / "acquit", "db", "upgrade"], cwd=ROOT, env=environment, capture_output=True,
                              text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path / "gunicorn.log"
    with log.open("w") as stderr:
        server = subprocess.Popen([BIN / "gunicorn", "-c", "deploy/gunicorn.conf.py"], cwd=ROOT, env=environment,
                                  stdout=subprocess.PIPE, stderr=stderr)
    try:
        base = f"http://127.0.0.1:{listening_port(log, server, timeout=60)}"
        wait_until_answering(base + "/healthz", timeout=60)

        ready = requests.get(base + "/readyz", headers={"X-Request-Id": "deploy-check-1"}, timeout=10)
        generated = requests.get(base + "/healthz", timeout=10)
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, _ = server.communicate(timeout=60)

    assert (ready.status_code, ready.json(), ready.headers["X-Request-Id"]) == (200, {"status": "ready"},
                                                                                 "deploy-check-1")
    assert re.fullmatch("[0-9a-f]{32}", generated.headers["X-Request-Id"])
    assert server.returncode == 0 and stdout == b""
    # Every line, gunicorn's own included, is one JSON object.
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    requests_logged = [(line["request_id"], line["method"], line["path"], line["status"])
                       for line in lines if line["logger"] == "portal.request_log"]
    assert ("deploy-check-1", "GET", "/readyz", 200) in requests_logged
    assert (generated.headers["X-Request-Id"], "GET", "/healthz", 200) in requests_logged
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"] for line in lines)
    assert lines[-1]["message"] == "Shutting down: Master"
