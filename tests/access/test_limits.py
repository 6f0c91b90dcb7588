"""Rate limits and quotas in memory and in the real Redis, shared between server processes."""

from __future__ import annotations

import time
import uuid

import pytest

from opinara.access.limits import FailedAuthLimiter, KeyLimiter, client_bucket
from opinara.errors import InputError
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


def test_an_address_is_refused_once_it_failed_the_limit_and_until_the_window_frees():
    failures = FailedAuthLimiter("2/second")
    assert failures.retry_after("192.0.2.1") is None
    failures.failed("192.0.2.1")
    assert failures.retry_after("192.0.2.1") is None
    failures.failed("192.0.2.1")
    assert failures.retry_after("192.0.2.1") == 1
    assert failures.retry_after("192.0.2.2") is None, "addresses are counted apart"
    time.sleep(1.1)
    assert failures.retry_after("192.0.2.1") is None


def test_retry_after_counts_down_to_when_the_oldest_failure_leaves_the_window():
    failures = FailedAuthLimiter("1/minute")
    failures.failed("192.0.2.9")
    assert 59 <= failures.retry_after("192.0.2.9") <= 60


def test_an_ipv6_host_is_counted_by_its_64_prefix():
    failures = FailedAuthLimiter("1/minute")
    failures.failed("2001:db8:1:2::1")
    assert failures.retry_after("2001:db8:1:2:ffff::99") is not None
    assert failures.retry_after("2001:db8:1:3::1") is None
    assert client_bucket("::ffff:192.0.2.1") == client_bucket("192.0.2.1") == "192.0.2.1"
    assert client_bucket(None) == "-" and client_bucket("testclient") == "testclient"


def test_a_bad_failed_auth_limit_is_an_input_error():
    with pytest.raises(InputError, match="failed_auth_limit"):
        FailedAuthLimiter("often")
