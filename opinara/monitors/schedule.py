"""When a monitor runs next, and whether it keeps running: pure rules over a run's outcome.

- A new or resumed monitor starts at a random moment of its first interval, or of its first minute when
  the interval is longer, so monitors made together (an import, a restore, a resume of many) do not
  fire in the same second: a thousand one-minute monitors run evenly over each minute, not in a burst
  that workers must queue. After that each keeps its own phase (next = due + interval), skipping
  missed slots rather than catching up on them.
- A run that stopped at a limit (``partial``) comes back soon to fetch the rest.
- Rate limited: the service's wait (``Retry-After``, a reset header), at least the backoff.
- Failed: exponential backoff (interval x 2^(failures-1), capped), and paused after
  ``monitor_failures_before_pause`` failures in a row; an authentication failure pauses at once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from opinara.monitors.models import RunStatus

PARTIAL_RETRY_SECONDS = 60.0
MAX_START_JITTER = 60.0


@dataclass(frozen=True)
class Decision:
    next_run_at: datetime
    failures: int
    pause_reason: str | None = None


def first_run(now: datetime, interval: float, rng: random.Random | None = None) -> datetime:
    """When a new (or resumed) monitor first runs: within its interval, and within a minute at most."""
    spread = min(interval, MAX_START_JITTER)
    return now + timedelta(seconds=(rng or random).uniform(0, spread))


def after_success(due: datetime, now: datetime, interval: float) -> datetime:
    """The next slot of the monitor's own phase that is still ahead (missed slots are skipped)."""
    step = timedelta(seconds=interval)
    upcoming = due + step
    if upcoming <= now:
        upcoming += step * ((now - upcoming) // step + 1)
    return upcoming


def backoff(interval: float, failures: int, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row (at least the interval)."""
    return min(interval * 2 ** max(failures - 1, 0), max(cap, interval))


def decide(
    status: RunStatus,
    due: datetime,
    now: datetime,
    interval: float,
    failures: int,
    *,
    retry_after: float | None = None,
    auth_failed: bool = False,
    error: str | None = None,
    max_failures: int = 10,
    max_backoff: float = 6 * 3600.0,
) -> Decision:
    """The monitor's schedule after a run that ended with ``status``."""
    if status == "success":
        return Decision(after_success(due, now, interval), 0)
    if status == "partial":
        return Decision(now + timedelta(seconds=min(interval, PARTIAL_RETRY_SECONDS)), 0)
    if status == "rate_limited":
        wait = max(retry_after or 0.0, backoff(interval, failures + 1, max_backoff) if retry_after is None else 0.0)
        return Decision(now + timedelta(seconds=max(wait, 1.0)), failures)
    failures += 1
    if auth_failed:
        return Decision(now, failures, f"authentication failed: {error}" if error else "authentication failed")
    if failures >= max_failures:
        return Decision(now, failures, f"{failures} failed runs in a row; last: {error}" if error else None)
    return Decision(now + timedelta(seconds=backoff(interval, failures, max_backoff)), failures)
