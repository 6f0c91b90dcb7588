"""``detector.robust.v1``: a robust, seasonal baseline, judged by how surprising its errors are.

Two steps per point, both streaming:

1. **Deviation.** The point against the level and the time of day of the points before it, in robust
   spreads (:class:`~opinara.signals.detectors.baseline.SeasonalBaseline`).
2. **Surprise.** Every series has its own normal amount of deviation, so a fixed threshold on it either
   floods a noisy series or misses a quiet one. The detector keeps the distribution of its own recent
   deviations (mean and standard deviation over ``history`` points) and asks how likely the mean
   deviation of the last ``recent`` points is under it (a normal tail). A lone spike or a shift that
   persists for a few points is improbable; the same noise as usual is not. (The idea of Numenta's
   anomaly likelihood, on a simpler model.)

Score: ``-log10(tail) / (2 * -log10(alert_tail))`` capped at 1, so 0.5 exactly at the alert threshold.
Alert: the first point at or over it after ``warmup`` points; then quiet for ``cooldown`` points, since an
anomaly lasts many rows and one insight should cover it.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from opinara.signals.detectors.base import DETECTORS, QUIET, Verdict
from opinara.signals.detectors.baseline import Deviation, SeasonalBaseline


class RollingMoments:
    """Mean and standard deviation of the last ``size`` values, by running sums."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: deque[float] = deque()
        self._sum = 0.0
        self._squares = 0.0

    def __len__(self) -> int:
        return len(self._values)

    def add(self, value: float) -> None:
        self._values.append(value)
        self._sum += value
        self._squares += value * value
        if len(self._values) > self.size:
            old = self._values.popleft()
            self._sum -= old
            self._squares -= old * old

    def mean_and_std(self) -> tuple[float, float]:
        n = len(self._values)
        mean = self._sum / n
        return mean, math.sqrt(max(self._squares / n - mean * mean, 0.0))


class RobustBaseline:
    name = "detector.robust.v1"

    def __init__(
        self,
        window: int = 500,
        days: int = 7,
        history: int = 2000,
        recent: int = 5,
        alert_tail: float = 1e-4,
        warmup: int = 150,
        cooldown: int = 300,
    ) -> None:
        if history < 20 or recent < 1 or not 0 < alert_tail < 0.5:
            raise ValueError("history >= 20, recent >= 1, 0 < alert_tail < 0.5")
        if warmup < 1 or cooldown < 0:
            raise ValueError("warmup >= 1 and cooldown >= 0")
        self.alert_tail = alert_tail
        self.warmup = warmup
        self.cooldown = cooldown
        self._baseline = SeasonalBaseline(int(window), int(days))
        self._errors = RollingMoments(int(history))
        self._recent: deque[float] = deque(maxlen=int(recent))
        self._seen = 0
        self._quiet_until = 0

    def update(self, timestamp: datetime, value: float | None) -> Verdict:
        if value is None or not math.isfinite(value):
            return QUIET
        self._seen += 1
        verdict = QUIET
        deviation = self._baseline.deviation(timestamp, value)
        if deviation is not None:
            self._recent.append(abs(deviation.value))
            if self._seen > self.warmup and len(self._errors) >= self.warmup // 2:
                verdict = self._judge(deviation)
            self._errors.add(abs(deviation.value))
        self._baseline.add(timestamp, value)
        if verdict.alert:
            self._quiet_until = self._seen + self.cooldown
        return verdict

    def _judge(self, deviation: Deviation) -> Verdict:
        mean, std = self._errors.mean_and_std()
        short = sum(self._recent) / len(self._recent)
        std = max(std, 1e-6 + 0.05 * mean)  # a series whose errors never varied: still a finite bar
        tail = 0.5 * math.erfc((short - mean) / std / math.sqrt(2.0))
        surprise = -math.log10(max(tail, 1e-300))
        score = min(surprise / (2.0 * -math.log10(self.alert_tail)), 1.0)
        alert = tail <= self.alert_tail and self._seen > self._quiet_until
        return Verdict(score, alert, deviation.expected, deviation.spread, deviation.value)


@DETECTORS.register(RobustBaseline.name)
def robust_baseline(**options: float) -> RobustBaseline:
    return RobustBaseline(**options)  # type: ignore[arg-type]
