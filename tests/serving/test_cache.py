"""The result cache: in process, shared through the real Redis, and degraded (not failing) without it."""

from __future__ import annotations

import uuid

from opinara.serving.cache import ResultCache, cache_key
from tests.conftest import require_redis


def test_the_key_depends_on_text_model_and_options():
    base = cache_key("Great screen", "encoder:v1", "aspects=True")
    assert base == cache_key("Great screen", "encoder:v1", "aspects=True")
    assert (
        len(
            {
                base,
                cache_key("Great screen ", "encoder:v1", "aspects=True"),
                cache_key("Great screen", "encoder:v2", "aspects=True"),
                cache_key("Great screen", "encoder:v1", "aspects=False"),
            }
        )
        == 4
    )


def test_the_memory_level_returns_what_was_stored_and_misses_the_rest():
    cache = ResultCache(size=2, ttl_seconds=60)
    cache.set_many({"a": b"1", "b": b"2"})
    assert cache.get_many(["a", "b", "c"]) == [b"1", b"2", None]
    cache.set_many({"c": b"3"})  # LRU: the oldest untouched entry goes
    assert cache.get_many(["c"]) == [b"3"] and cache.get_many(["a", "b"]).count(None) == 1


def test_a_size_of_zero_turns_the_cache_off():
    cache = ResultCache(size=0, ttl_seconds=60)
    cache.set_many({"a": b"1"})
    assert not cache.enabled and cache.get_many(["a"]) == [None]


def test_redis_shares_results_between_servers():
    url = require_redis()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    first, second = ResultCache(100, 60, url), ResultCache(100, 60, url)
    key = cache_key("shared text", "m", "o", prefix)
    first.set_many({key: b'{"x": 1}'})
    assert second.get_many([key]) == [b'{"x": 1}']
    assert second.redis_status() == "up"


def test_redis_down_means_the_memory_cache_alone_not_errors():
    cache = ResultCache(100, 60, "redis://127.0.0.1:1/0")
    cache.set_many({"k": b"v"})
    assert cache.get_many(["k", "missing"]) == [b"v", None]
    assert cache.redis_status() == "down"
