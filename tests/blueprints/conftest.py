"""Fixtures for the web tests: pages in English."""

import pytest


@pytest.fixture
def english(client):
    """Choose English for `client`'s pages (the portal's default language is French)."""
    set_language(client, "en")
    return client


def set_language(client, code: str) -> None:
    with client.session_transaction() as session:
        session["lang"] = code
