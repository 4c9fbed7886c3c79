"""API keys for the supplier's ERP: created once, shown once, stored hashed, revocable."""

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from portal.accounts.errors import AccountError
from portal.models import ApiKey
from portal.models.types import utcnow

KEY_PREFIX = "acq_"


class InvalidApiKey(AccountError):
    """No active key matches what was presented."""


class ApiKeyNameTaken(AccountError):
    """A key with this name exists already (revoked ones included: names are never reused)."""


class UnknownApiKey(AccountError):
    """No key has this name."""


# Built once: every API request runs it.
_KEY_BY_HASH = select(ApiKey).where(ApiKey.key_hash == bindparam("key_hash"))


def _digest(key: str) -> str:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """A new key named `name`; returns the row and the key itself, which is never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("an API key needs a name of 1 to 100 characters")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ApiKeyNameTaken(name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(name=name, prefix=key[:10], key_hash=_digest(key))
    session.add(api_key)
    session.flush()
    return api_key, key


def revoke_api_key(session: Session, name: str, *, now: datetime | None = None) -> ApiKey:
    """Stop the key named `name` from working, at once."""
    api_key = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if api_key is None:
        raise UnknownApiKey(name)
    if api_key.revoked_at is None:
        api_key.revoked_at = now or utcnow()
    return api_key


def authenticate_api_key(session: Session, presented: str) -> ApiKey:
    """The active key matching `presented`, or `InvalidApiKey`."""
    if not presented or not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        raise InvalidApiKey()
    api_key = session.scalar(_KEY_BY_HASH, {"key_hash": _digest(presented)})
    if api_key is None or api_key.revoked_at is not None:
        raise InvalidApiKey()
    return api_key
