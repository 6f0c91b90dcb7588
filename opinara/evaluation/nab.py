"""The Numenta Anomaly Benchmark's scoring rules, over the ``alert`` column a detector writes.

A detector reads a series in order and marks rows where it would alert. NAB (Lavin and Ahmad 2015,
arXiv:1510.03336) scores a file so that early, rare, correct alerts win:

- The first 15% of the rows (at most 750) are a probation: nothing there is scored.
- Each labeled window counts once. Its earliest alert scores ``tp * sigma(y)``, where ``y`` is the
  alert's position from the window's right edge in window widths (``-1`` at the left edge, so an early
  alert scores ~0.987 and one at the right edge 0); a window with no alert scores ``-fn``.
- Every alerted row outside all windows scores ``fp * sigma(y)`` with ``y`` its distance after the
  preceding window's right edge in window widths (clamped at 3, so ``-fp`` far away), or ``-fp`` when
  no window precedes it. Further alerts inside a window after its first cost nothing.
- ``sigma(y) = 2 / (1 + exp(5y)) - 1``.

Normalized over files: ``100 * (raw - null) / (perfect - null)``, where the null detector never alerts
(``-fn`` per window) and the perfect one scores ``tp`` per window.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PROBATION_SHARE = 0.15
PROBATION_MAX_ROWS = 750


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


PROFILES = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass(frozen=True)
class FileScore:
    raw: float
    windows: int
    detected: int  # windows with an alert
    false_alerts: int  # alerted rows outside every window (after the probation)

    def null(self, profile: Profile) -> float:
        return -profile.fn * self.windows

    def perfect(self, profile: Profile) -> float:
        return profile.tp * self.windows


def sigma(position: float) -> float:
    """NAB's scaled sigmoid of a position relative to a window's right edge, in window widths."""
    if position > 3.0:
        return -1.0
    if position < -3.0:
        return 1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation(rows: int) -> int:
    return min(math.floor(PROBATION_SHARE * rows), PROBATION_MAX_ROWS)


def score_file(
    timestamps: Sequence[datetime],
    alerts: Sequence[bool],
    windows: Sequence[tuple[datetime, datetime]],
    profile: Profile = PROFILES["standard"],
) -> FileScore:
    """One file's raw NAB score. ``windows`` are ``(start, end)`` times, inclusive, as NAB labels them."""
    if len(timestamps) != len(alerts):
        raise ValueError(f"{len(timestamps)} timestamps but {len(alerts)} alerts")
    spans = sorted(_rows_of(timestamps, start, end) for start, end in windows)
    spans = [(first, last) for first, last in spans if last >= first]
    start = probation(len(timestamps))
    raw, detected = 0.0, 0
    for first, last in spans:
        hit = next((row for row in range(max(first, start), last + 1) if alerts[row]), None)
        if hit is None:
            raw -= profile.fn
            continue
        detected += 1
        width = last - first
        raw += profile.tp * sigma(-(last - hit) / width if width > 0 else -2.0)
    ends = [last for _, last in spans]
    false_alerts = 0
    for row in range(start, len(alerts)):
        if not alerts[row] or any(first <= row <= last for first, last in spans):
            continue
        false_alerts += 1
        preceding = bisect.bisect_left(ends, row) - 1
        if preceding < 0:
            raw -= profile.fp
            continue
        first, last = spans[preceding]
        width = last - first
        raw += profile.fp * sigma((row - last) / width if width > 0 else 2.0)
    return FileScore(raw, len(spans), detected, false_alerts)


def normalized(scores: Sequence[FileScore], profile: Profile = PROFILES["standard"]) -> float:
    """The benchmark's 0-100 figure over these files (can be negative: worse than never alerting)."""
    raw = sum(score.raw for score in scores)
    null = sum(score.null(profile) for score in scores)
    perfect = sum(score.perfect(profile) for score in scores)
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def _rows_of(timestamps: Sequence[datetime], start: datetime, end: datetime) -> tuple[int, int]:
    """The first and last row whose time lies in ``[start, end]`` (timestamps are in order)."""
    return bisect.bisect_left(timestamps, start), bisect.bisect_right(timestamps, end) - 1
