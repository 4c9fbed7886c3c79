"""The page cache: bounded in memory, shared through Redis when a server is given."""

import uuid

from portal.page_cache import MemoryPageCache, RedisPageCache, cache_key, page_cache_from_config


def test_the_least_recently_used_entries_make_room_within_the_bound():
    cache = MemoryPageCache(max_chars=10)
    cache.set("a", "aaaa")
    cache.set("b", "bbbb")
    assert cache.get("a") == "aaaa"  # now the most recently used
    cache.set("c", "cccc")
    assert cache.get("b") is None and cache.get("a") == "aaaa" and cache.get("c") == "cccc"
    cache.set("big", "x" * 11)
    assert cache.get("big") is None and len(cache) == 2


def test_a_key_changes_with_every_part():
    assert cache_key("list", 1, "v1", "fr") != cache_key("list", 1, "v2", "fr")
    assert cache_key("list", 1, "v1", "fr") != cache_key("list", 1, "v1", "en")
    assert cache_key("list", 1, "v1", "fr") == cache_key("list", 1, "v1", "fr")


def test_memory_unless_a_redis_url_is_set():
    assert isinstance(page_cache_from_config(None, 1024), MemoryPageCache)


def test_redis_when_a_url_is_set(redis_url):
    assert isinstance(page_cache_from_config(redis_url, 1024), RedisPageCache)


def test_entries_are_shared_through_redis(redis_url):
    writer, reader = RedisPageCache(redis_url), RedisPageCache(redis_url)
    key = uuid.uuid4().hex
    assert reader.get(key) is None
    writer.set(key, "<p>déjà</p>")
    assert reader.get(key) == "<p>déjà</p>"


def test_an_unreachable_redis_only_means_rendering_again():
    cache = RedisPageCache("redis://127.0.0.1:1/0")
    cache.set("key", "value")
    assert cache.get("key") is None
