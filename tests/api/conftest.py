"""Fixtures for the API tests: a real API key, and a client that presents it like an ERP."""

import pytest

from portal.accounts.api_keys import create_api_key

API = "/api/v1"


class ErpClient:
    """The test client with `Authorization: Bearer <key>` on every request, paths under /api/v1."""

    def __init__(self, client, key: str):
        self.client = client
        self.key = key

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **kwargs):
        return self.client.get(API + path, headers=self.headers, **kwargs)

    def put(self, path: str, body: dict):
        return self.client.put(API + path, json=body, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(API + path, json=body, headers=self.headers)


def create_key_with_cli(app, name: str) -> str:
    """Run `acquit apikey create NAME` and return the key it prints (its last line)."""
    result = app.test_cli_runner().invoke(args=["apikey", "create", name])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


@pytest.fixture
def api_key(db) -> str:
    """A valid key, made by the service the CLI uses (committed like the CLI does)."""
    _, key = create_api_key(db, "erp-tests")
    db.commit()
    return key


@pytest.fixture
def erp(client, api_key) -> ErpClient:
    return ErpClient(client, api_key)
