"""/healthz answers while the process runs; /readyz only while the database answers at the latest schema."""

from portal import migrate
from portal.app import create_app
from portal.migrate import MIGRATIONS
from tests.conftest import app_config


def test_healthz_and_readyz_answer_on_a_migrated_database(client):
    assert (client.get("/healthz").status_code, client.get("/healthz").get_json()) == (200, {"status": "ok"})
    assert (client.get("/readyz").status_code, client.get("/readyz").get_json()) == (200, {"status": "ready"})


def previous_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_revision(script.get_current_head()).down_revision


def test_readyz_is_503_until_the_latest_migration_has_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'behind.sqlite3'}"
    migrate.upgrade(url, previous_revision())
    client = create_app(app_config(url, ACQUIT_ATTACHMENT_DIR=str(tmp_path))).test_client()

    behind = client.get("/readyz")
    assert (behind.status_code, behind.get_json()) == (503, {"status": "not ready",
                                                              "reason": "database schema not up to date"})
    assert client.get("/healthz").status_code == 200

    migrate.upgrade(url)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_while_the_database_cannot_be_reached(tmp_path):
    url = f"sqlite:///{tmp_path / 'no-such-folder' / 'acquit.sqlite3'}"
    client = create_app(app_config(url, ACQUIT_ATTACHMENT_DIR=str(tmp_path))).test_client()

    unreachable = client.get("/readyz")

    assert (unreachable.status_code, unreachable.get_json()["reason"]) == (503, "database unavailable")
    assert client.get("/healthz").status_code == 200
