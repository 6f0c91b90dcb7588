"""``detector.cusum.v1``: a level shift, found by Page's two-sided CUSUM over robust deviations.

Each point's deviation from the robust seasonal baseline (``baseline.SeasonalBaseline``, in spreads) feeds
two cumulative sums, one for a rise and one for a fall: ``S+ = max(0, S+ + z - drift)`` and
``S- = max(0, S- - z - drift)``. Noise around the level keeps them near zero (``drift`` absorbs it); a
shift of even one spread that persists makes one of them climb steadily, so a shift too small to stand
out point by point is found after a handful of points. An alert at ``S >= threshold``; then the sums
restart and the baseline is learned afresh from the new level (the old one no longer describes the
series), quiet for ``warmup`` points. Streaming, no look-ahead; no I/O.
"""

from __future__ import annotations

import math
from datetime import datetime

from opinara.signals.detectors.base import DETECTORS, QUIET, Verdict
from opinara.signals.detectors.baseline import SeasonalBaseline


class LevelShift:
    name = "detector.cusum.v1"

    def __init__(
        self, window: int = 60, days: int = 7, drift: float = 0.75, threshold: float = 6.0, warmup: int = 14
    ) -> None:
        if drift < 0 or threshold <= 0 or warmup < 10:
            raise ValueError("drift >= 0, threshold > 0, warmup >= 10")
        self.window = int(window)
        self.days = int(days)
        self.drift = drift
        self.threshold = threshold
        self.warmup = int(warmup)
        self._restart()

    def _restart(self) -> None:
        self._baseline = SeasonalBaseline(self.window, self.days)
        self._up = 0.0
        self._down = 0.0
        self._seen = 0

    def update(self, timestamp: datetime, value: float | None) -> Verdict:
        if value is None or not math.isfinite(value):
            return QUIET
        self._seen += 1
        deviation = self._baseline.deviation(timestamp, value)
        if deviation is None or self._seen <= self.warmup:
            self._baseline.add(timestamp, value)
            return QUIET
        z = max(min(deviation.value, 50.0), -50.0)  # one wild point moves a sum by a bounded step
        self._up = max(0.0, self._up + z - self.drift)
        self._down = max(0.0, self._down - z - self.drift)
        strength = max(self._up, self._down)
        score = min(strength / (2.0 * self.threshold), 1.0)
        if strength >= self.threshold:
            verdict = Verdict(score, True, deviation.expected, deviation.spread, deviation.value)
            self._restart()
            self._baseline.add(timestamp, value)
            self._seen = 1
            return verdict
        self._baseline.add(timestamp, value)
        return Verdict(score, False, deviation.expected, deviation.spread, deviation.value)


@DETECTORS.register(LevelShift.name)
def level_shift(**options: float) -> LevelShift:
    return LevelShift(**options)  # type: ignore[arg-type]
