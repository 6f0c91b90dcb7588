"""Rate limits and quotas in memory and in the real Redis, shared between server processes."""

from __future__ import annotations

import uuid

from opinara.access.limits import KeyLimiter
from tests.conftest import require_redis


def test_the_rate_limit_refuses_past_the_limit_and_says_when_to_retry():
    limiter = KeyLimiter()
    decisions = [limiter.check_rate(1, "2/minute") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].headers()["Retry-After"] and decisions[2].reason == "rate limit"
    assert limiter.check_rate(2, "2/minute").allowed, "keys are counted apart"


def test_a_refused_quota_request_takes_nothing():
    limiter = KeyLimiter()
    assert limiter.take_quota(1, 10, 8).allowed
    refused = limiter.take_quota(1, 10, 3)
    assert not refused.allowed and refused.remaining == 2
    assert limiter.take_quota(1, 10, 2).allowed


def test_two_servers_share_limits_through_redis():
    url = require_redis()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    first, second = KeyLimiter(url, prefix), KeyLimiter(url, prefix)
    assert first.check_rate(7, "3/minute").allowed and second.check_rate(7, "3/minute").allowed
    assert first.check_rate(7, "3/minute").allowed
    assert not second.check_rate(7, "3/minute").allowed
    assert first.backend == "redis"


def test_redis_down_falls_back_to_counting_in_process():
    limiter = KeyLimiter("redis://127.0.0.1:1/0")
    assert [limiter.check_rate(1, "1/minute").allowed for _ in range(2)] == [True, False]
    assert limiter.backend == "memory"
