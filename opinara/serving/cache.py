"""The result cache: serialized results keyed by a hash of the text, the model version and the options.

Level one is an in-process LRU with a TTL (cachetools); level two, when Redis is configured, is shared
by every server. A Redis outage costs only the shared level: lookups and stores go on in process, and
Redis is tried again a few seconds later.

The key hashes the exact text: results carry character offsets into it, so any normalization that
changed a character would hand back offsets into a different string."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence

from cachetools import TTLCache

from opinara.observability.metrics import CACHE_LOOKUPS
from opinara.outage import Outage


def cache_key(text: str, model_version: str, options: str, prefix: str = "opinara", secret: bytes = b"") -> str:
    """The key of one result: a keyed hash (the deployment's secret), so the keys in a shared Redis
    cannot be matched against candidate texts by anyone without the secret."""
    digest = hashlib.blake2b(digest_size=20, key=hashlib.blake2b(secret).digest() if secret else b"")
    for part in (model_version, options, text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return f"{prefix}:result:{digest.hexdigest()}"


class ResultCache:
    def __init__(self, size: int, ttl_seconds: int, redis_url: str | None = None) -> None:
        self.ttl = ttl_seconds
        self._memory: TTLCache[str, bytes] | None = TTLCache(size, ttl_seconds) if size > 0 else None
        self._lock = threading.Lock()
        self._redis = None
        self._outage = Outage("shared cache (Redis)", "using the in-process cache alone")
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)

    @property
    def enabled(self) -> bool:
        return self._memory is not None

    @property
    def shared(self) -> bool:
        """Whether lookups may go to Redis: a network round trip, kept off the event loop by the caller."""
        return self._memory is not None and self._redis is not None

    def redis_status(self) -> str:
        if self._redis is None:
            return "not configured"
        return "down" if self._outage.down else "up"

    def _shared(self):
        return None if self._redis is None or self._outage.skip() else self._redis

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if self._memory is None:
            return [None] * len(keys)
        with self._lock:
            found = [self._memory.get(key) for key in keys]
        hits = sum(value is not None for value in found)
        CACHE_LOOKUPS.labels("memory", "hit").inc(hits)
        CACHE_LOOKUPS.labels("memory", "miss").inc(len(keys) - hits)
        missing = [i for i, value in enumerate(found) if value is None]
        shared = self._shared()
        if missing and shared is not None:
            try:
                values = shared.mget([keys[i] for i in missing])
            except Exception as exc:  # redis.RedisError and socket errors: degrade to level one
                self._outage.failed(exc)
                return found
            self._outage.succeeded()
            promoted = {}
            for i, value in zip(missing, values, strict=True):
                if value is not None:
                    found[i] = promoted[keys[i]] = bytes(value)
            CACHE_LOOKUPS.labels("redis", "hit").inc(len(promoted))
            CACHE_LOOKUPS.labels("redis", "miss").inc(len(missing) - len(promoted))
            if promoted:
                with self._lock:
                    self._memory.update(promoted)
        return found

    def set_many(self, items: dict[str, bytes]) -> None:
        if self._memory is None or not items:
            return
        with self._lock:
            self._memory.update(items)
        shared = self._shared()
        if shared is not None:
            try:
                with shared.pipeline(transaction=False) as pipe:
                    for key, value in items.items():
                        pipe.set(key, value, ex=self.ttl)
                    pipe.execute()
            except Exception as exc:
                self._outage.failed(exc)
            else:
                self._outage.succeeded()
