"""One limiter per service host, shared by every monitor (and every worker, through Redis when configured).

Two rules: a request rate per host (``monitor_host_rate_limit``, a ``limits`` expression), and a "wait
until" that a 429, a quota answer or an exhausted ``X-RateLimit-*`` sets for the host: until then no
monitor calls it, and runs that would are recorded ``rate_limited`` with the time to wait. With Redis
down, both are counted in process (see ``opinara.outage``)."""

from __future__ import annotations

import math
import threading
import time

from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from opinara.config import Settings
from opinara.monitors.connectors.base import SourceRateLimited
from opinara.outage import Outage

DEFAULT_WAIT = 60.0  # a 429 that does not say how long
MAX_WAIT = 6 * 3600.0


class HostLimiter:
    def __init__(self, settings: Settings) -> None:
        self.item = parse(settings.monitor_host_rate_limit)
        self.prefix = f"{settings.redis_prefix}:hosts"
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._blocked: dict[str, float] = {}  # host -> wall time it may be called again
        self._lock = threading.Lock()
        self._redis = None
        self._shared = None
        self._outage = Outage("host limits (Redis)", "limiting hosts in process")
        if settings.redis_url:
            import redis

            self._redis = redis.Redis.from_url(settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            storage = storage_from_string(
                settings.redis_url, key_prefix=self.prefix, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self._shared = MovingWindowRateLimiter(storage)

    def acquire(self, host: str) -> None:
        """Count one request to ``host``; :class:`SourceRateLimited` when it must wait."""
        wait = self.waiting(host)
        if wait:
            raise SourceRateLimited(f"{host} asked to wait; {math.ceil(wait)} s left", wait)
        limiter = self._limiter()
        try:
            allowed = limiter.hit(self.item, host)
        except Exception as exc:  # Redis went away mid-call: count in process
            self._outage.failed(exc)
            allowed = self._memory.hit(self.item, host)
        if not allowed:
            reset = limiter.get_window_stats(self.item, host).reset_time if limiter is self._memory else time.time() + 1
            raise SourceRateLimited(
                f"{host}: this server's request rate for it is used up", max(reset - time.time(), 1.0)
            )

    def block(self, host: str, seconds: float | None) -> None:
        """Nobody calls ``host`` for ``seconds`` (a default when the service did not say)."""
        seconds = min(max(seconds if seconds is not None else DEFAULT_WAIT, 1.0), MAX_WAIT)
        until = time.time() + seconds
        with self._lock:
            self._blocked[host] = max(self._blocked.get(host, 0.0), until)
        if self._redis is not None and not self._outage.skip():
            try:
                self._redis.set(f"{self.prefix}:wait:{host}", str(until), ex=math.ceil(seconds))
                self._outage.succeeded()
            except Exception as exc:
                self._outage.failed(exc)

    def waiting(self, host: str) -> float:
        """Seconds until ``host`` may be called (0 when now)."""
        until = self._blocked.get(host, 0.0)
        if self._redis is not None and not self._outage.skip():
            try:
                shared = self._redis.get(f"{self.prefix}:wait:{host}")
                self._outage.succeeded()
                until = max(until, float(shared)) if shared else until
            except Exception as exc:
                self._outage.failed(exc)
        return max(until - time.time(), 0.0)

    def _limiter(self) -> MovingWindowRateLimiter:
        return self._shared if self._shared is not None and not self._outage.skip() else self._memory
