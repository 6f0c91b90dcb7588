"""The schedule rules, with controlled time: phases kept, missed slots skipped, spread starts, backoff,
waits the services ask for, and pauses."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from opinara.monitors.schedule import after_success, backoff, decide, first_run

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_successful_run_keeps_the_monitors_phase_and_skips_missed_slots():
    assert after_success(T0, T0 + timedelta(seconds=3), 900) == T0 + timedelta(seconds=900)
    late = T0 + timedelta(seconds=2000)  # the worker was down for two slots
    assert after_success(T0, late, 900) == T0 + timedelta(seconds=2700)
    assert decide("success", T0, T0 + timedelta(seconds=5), 900, failures=3).failures == 0


def test_new_monitors_with_one_interval_start_spread_over_a_minute():
    rng = random.Random(7)
    starts = [first_run(T0, 900, rng) for _ in range(1000)]
    offsets = [(s - T0).total_seconds() for s in starts]
    assert min(offsets) >= 0 and max(offsets) <= 60
    per_second = max(sum(1 for o in offsets if int(o) == second) for second in range(60))
    assert per_second < 40, "no second gets more than a few percent of the starts"
    minutely = [(first_run(T0, 60, rng) - T0).total_seconds() for _ in range(1000)]
    assert max(minutely) <= 60 and max(sum(1 for o in minutely if int(o) == s) for s in range(60)) < 40
    assert max((first_run(T0, 10, rng) - T0).total_seconds() for _ in range(100)) <= 10, "within the interval"


def test_a_partial_run_comes_back_within_a_minute():
    decision = decide("partial", T0, T0, 3600, failures=0)
    assert decision.next_run_at == T0 + timedelta(seconds=60) and decision.pause_reason is None


def test_rate_limited_runs_wait_what_the_service_said_or_back_off():
    told = decide("rate_limited", T0, T0, 900, failures=0, retry_after=120)
    assert told.next_run_at == T0 + timedelta(seconds=120) and told.failures == 0
    silent = decide("rate_limited", T0, T0, 900, failures=2)
    assert silent.next_run_at == T0 + timedelta(seconds=900 * 4)


def test_failures_back_off_exponentially_with_a_cap_then_pause():
    assert [backoff(60, n, 3600) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]
    third = decide("failed", T0, T0, 60, failures=2, error="example.org answered 503", max_failures=5)
    assert (third.failures, third.next_run_at, third.pause_reason) == (3, T0 + timedelta(seconds=240), None)
    fifth = decide("failed", T0, T0, 60, failures=4, error="example.org answered 503", max_failures=5)
    assert fifth.pause_reason == "5 failed runs in a row; last: example.org answered 503"


def test_an_authentication_failure_pauses_at_once_with_the_reason():
    decision = decide("failed", T0, T0, 900, failures=0, auth_failed=True, error="oauth.example refused (401)")
    assert decision.pause_reason == "authentication failed: oauth.example refused (401)"
