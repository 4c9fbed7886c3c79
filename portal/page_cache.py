"""Rendered page parts kept for reuse, keyed on what they were rendered from.

A key always holds the company's data version (`portal.billing.data_version`), which changes
in the same transaction as anything the company sees: an entry is never stale, it merely
stops being asked for, and the least recently used make room. Nothing is ever invalidated.

In one process (`MemoryPageCache`, the default) entries live in a bounded LRU. Several
processes or servers share a Redis server instead (`ACQUIT_PAGE_CACHE_URL=redis://…`, with
Acquit's `redis` extra installed: `pip install -e '.[redis]'`). No Flask in here.
"""

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from portal.config_errors import ConfigurationError

Value = TypeVar("Value")

# A Redis entry outlives its use by at most this long (a newer data version stops its use at once).
REDIS_ENTRY_SECONDS = 24 * 3600


class PageCache(Protocol):
    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


def cache_key(*parts) -> str:
    """One key for everything a rendering depends on: a short digest of `parts`' text."""
    return hashlib.blake2b("\x1f".join(str(part) for part in parts).encode(), digest_size=20).hexdigest()


class BoundedLru(Generic[Value]):
    """A least-recently-used cache in this process, safe across threads, holding at most `limit` in all,
    each entry counting `size(value)` (1 each by default)."""

    def __init__(self, limit: int, size: Callable[[Value], int] = lambda _: 1):
        self.limit = limit
        self._size = size
        self._entries: OrderedDict[str, Value] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Value | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: Value) -> None:
        if self._size(value) > self.limit:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._held -= self._size(previous)
            self._entries[key] = value
            self._held += self._size(value)
            while self._held > self.limit:
                _, dropped = self._entries.popitem(last=False)
                self._held -= self._size(dropped)

    def __len__(self) -> int:
        return len(self._entries)


class MemoryPageCache(BoundedLru[str]):
    """Rendered page parts in this process, bounded by the characters held."""

    def __init__(self, max_chars: int):
        super().__init__(max_chars, size=len)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class RedisPageCache:
    """Entries in a Redis server shared by every process; an unreachable server only means rendering again."""

    def __init__(self, url: str, *, prefix: str = "acquit:page:"):
        if not url.startswith(REDIS_SCHEMES):
            raise ConfigurationError(f"ACQUIT_PAGE_CACHE_URL must be a Redis URL ({', '.join(REDIS_SCHEMES)}…), "
                                     f"not {url!r}")
        try:
            import redis
        except ImportError:
            raise ConfigurationError("ACQUIT_PAGE_CACHE_URL is set, but the redis package is not installed: "
                                     "pip install -e '.[redis]'") from None

        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2)
        self._prefix = prefix

    def get(self, key: str) -> str | None:
        try:
            value = self._client.get(self._prefix + key)
        except self._errors:
            return None
        return None if value is None else value.decode()

    def set(self, key: str, value: str) -> None:
        try:
            self._client.set(self._prefix + key, value.encode(), ex=REDIS_ENTRY_SECONDS)
        except self._errors:
            pass


def page_cache_from_config(url: str | None, max_chars: int) -> PageCache:
    """Redis when a URL is set, else this process's memory."""
    if url:
        return RedisPageCache(url)
    return MemoryPageCache(max_chars)
