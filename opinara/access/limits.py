"""Per-key rate limits and daily quotas with the ``limits`` package, in memory or in Redis, and the
limit on failed authentications per client address (in process).

When Redis is configured but unreachable, limits are counted in process (per server) instead of
failing requests (see ``opinara.outage``)."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from opinara.errors import InputError
from opinara.outage import Outage


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the window frees capacity
    reason: str | None = None  # "rate limit" or "daily quota" when refused

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(self.reset_seconds, 1))
        return headers


class KeyLimiter:
    """Checks a key's request rate and its daily quota of texts."""

    def __init__(self, redis_url: str | None = None, prefix: str = "opinara") -> None:
        self._memory = (SlidingWindowCounterRateLimiter(MemoryStorage()), FixedWindowRateLimiter(MemoryStorage()))
        self._shared: tuple[RateLimiter, RateLimiter] | None = None
        if redis_url:
            storage = storage_from_string(
                redis_url, key_prefix=f"{prefix}:limits", socket_timeout=0.25, socket_connect_timeout=0.25
            )
            self._shared = (SlidingWindowCounterRateLimiter(storage), FixedWindowRateLimiter(storage))
        self._outage = Outage("rate-limit storage (Redis)", "counting in process")
        self._items: dict[str, RateLimitItem] = {}

    @property
    def shared(self) -> bool:
        return self._shared is not None

    @property
    def backend(self) -> str:
        return "redis" if self._shared and not self._outage.down else "memory"

    def _item(self, expression: str) -> RateLimitItem:
        item = self._items.get(expression)
        if item is None:
            item = self._items[expression] = parse(expression)
        return item

    def _guarded(self, decide: Callable[[tuple[RateLimiter, RateLimiter]], Decision]) -> Decision:
        if self._shared is None or self._outage.skip():
            return decide(self._memory)
        try:
            decision = decide(self._shared)
        except Exception as exc:  # a Redis outage: count in process rather than fail the request
            self._outage.failed(exc)
            return decide(self._memory)
        self._outage.succeeded()
        return decision

    def check_rate(self, key_id: int, rate_limit: str) -> Decision:
        """Count one request against the key's rate limit."""
        item = self._item(rate_limit)
        identity = f"rate:{key_id}"

        def decide(limiters: tuple[RateLimiter, RateLimiter]) -> Decision:
            rate = limiters[0]
            allowed = rate.hit(item, identity)
            stats = rate.get_window_stats(item, identity)
            reset = max(math.ceil(stats.reset_time - time.time()), 0)
            return Decision(allowed, item.amount, stats.remaining, reset, None if allowed else "rate limit")

        return self._guarded(decide)

    def take_quota(self, key_id: int, daily_quota: int, texts: int) -> Decision:
        """Take ``texts`` from the key's quota for the current UTC day; nothing is taken when refused."""
        now = datetime.now(UTC)
        item = self._item(f"{daily_quota}/day")
        identity = f"quota:{key_id}:{now.date().isoformat()}"
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        reset = math.ceil((midnight - now).total_seconds())

        def decide(limiters: tuple[RateLimiter, RateLimiter]) -> Decision:
            quota = limiters[1]
            # test first: a refused hit would still count the texts in a fixed window
            allowed = quota.test(item, identity, cost=texts) and quota.hit(item, identity, cost=texts)
            remaining = quota.get_window_stats(item, identity).remaining
            return Decision(allowed, daily_quota, remaining, reset, None if allowed else "daily quota")

        return self._guarded(decide)


MAX_TRACKED_ADDRESSES = 100_000


def client_bucket(address: str | None) -> str:
    """The bucket a client address is counted in: an IPv6 address by its /64, which one host usually
    holds whole; anything else (IPv4, a name, no address) as it is."""
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailedAuthLimiter:
    """Failed authentications per client address, counted in process over a moving window.

    An address with ``limit`` failures in the window is refused before its key is looked up, whatever
    key it presents, until its oldest failure leaves the window; refused requests are not counted."""

    def __init__(self, limit: str = "30/minute") -> None:
        try:
            self._item = parse(limit)
        except ValueError as exc:
            raise InputError(f"failed_auth_limit {limit!r} is not like 30/minute") from exc
        self.limit = limit
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # Addresses with a failure within the window: every other request skips the window check, which
        # is most of them (this runs on every authenticated request).
        self._recent: dict[str, float] = {}
        self._window = self._item.get_expiry()

    def retry_after(self, client: str | None) -> int | None:
        """Seconds until ``client`` may try again, or None when it is not refused."""
        bucket = client_bucket(client)
        last = self._recent.get(bucket)
        if last is None:
            return None
        if time.monotonic() - last > self._window:
            self._recent.pop(bucket, None)
            return None
        if self._limiter.test(self._item, bucket):
            return None
        reset = self._limiter.get_window_stats(self._item, bucket).reset_time
        return max(math.ceil(reset - time.time()), 1)

    def failed(self, client: str | None) -> None:
        """Count one failed authentication from ``client``."""
        if len(self._recent) > MAX_TRACKED_ADDRESSES:
            self._recent.clear()  # the window's counts stay in the limiter; only the shortcut forgets
        bucket = client_bucket(client)
        self._recent[bucket] = time.monotonic()
        self._limiter.hit(self._item, bucket)
