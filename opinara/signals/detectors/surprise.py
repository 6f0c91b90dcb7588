"""``detector.surprise.v1``: robust deviations at several horizons, judged against their own past extremes.

Three steps per point, all streaming (no look-ahead):

1. **Deviation.** As in ``detector.robust.v1``: the point against the median of the last ``window`` values
   and against the median of its time-of-day slot on earlier days (once two days are seen), in robust
   spreads; the smaller of the two, signed. A daily rhythm is no anomaly; a departure from both is.
2. **Horizons.** The mean signed deviation over the last ``short``, ``middle`` and ``long`` points. The
   short one catches a spike, the longer ones a shift of level or a dip that no single point shows
   (noise averages out, a persistent departure does not). A horizon of 3 rather than 1 keeps a single
   glitch among noisy points from ringing on its own.
3. **Surprise.** Each horizon keeps the distribution of its own past values (the last ``history``);
   its surprise is the current value over the ``quantile`` of that distribution (the empirical tail, not
   a normal one: heavy-tailed series set their own bar). The point's surprise is the largest of the
   three. A bar floor of ``floor`` spreads (scaled by ``1/sqrt(horizon)``, how noise averages) keeps a
   series whose deviations were all near zero (flat, idle) from calling float noise or a tiny count a
   surprise.

Score: ``surprise / (2 * threshold)`` capped at 1, so 0.5 exactly at the alert bar.
Alert: at the first point at or over the bar after ``warmup`` points (and once each horizon has
``min_history`` past values). Then the detector is disarmed: it alerts again only after the surprise
has fallen back under ``rearm * threshold`` (the anomaly is over) and ``cooldown`` points have passed,
so one insight covers one anomaly, however long it lasts.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from opinara.signals.detectors.base import DETECTORS, QUIET, Verdict
from opinara.signals.detectors.baseline import RollingSorted, SeasonalBaseline


class HorizonSurprise:
    name = "detector.surprise.v1"

    def __init__(
        self,
        window: int = 500,
        days: int = 7,
        history: int = 3000,
        short: int = 3,
        middle: int = 10,
        long: int = 30,
        quantile: float = 0.99,
        threshold: float = 1.3,
        floor: float = 4,
        warmup: int = 150,
        min_history: int = 300,
        cooldown: int = 100,
        rearm: float = 0.7,
    ) -> None:
        horizons = [int(short), int(middle), int(long)]
        if history < 20 or min(horizons) < 1:
            raise ValueError("history >= 20, horizons >= 1")
        if not 0.5 <= quantile < 1 or threshold <= 0 or floor < 0 or not 0 < rearm <= 1:
            raise ValueError("0.5 <= quantile < 1, threshold > 0, floor >= 0, 0 < rearm <= 1")
        if warmup < 1 or min_history < 1 or cooldown < 0:
            raise ValueError("warmup >= 1, min_history >= 1 and cooldown >= 0")
        self.horizons = horizons
        self.quantile = quantile
        self.threshold = threshold
        self.warmup = int(warmup)
        self.min_history = int(min_history)
        self.cooldown = int(cooldown)
        self.rearm = rearm
        self._floors = [floor / math.sqrt(h) for h in horizons]
        self._baseline = SeasonalBaseline(int(window), int(days))
        self._deviations: deque[float] = deque(maxlen=max(horizons))
        self._past = [RollingSorted(int(history)) for _ in horizons]
        self._seen = 0
        self._last_alert: int | None = None
        self._armed = True

    def update(self, timestamp: datetime, value: float | None) -> Verdict:
        if value is None or not math.isfinite(value):
            return QUIET
        self._seen += 1
        verdict = QUIET
        deviation = self._baseline.deviation(timestamp, value)
        if deviation is not None:
            self._deviations.append(deviation.value)
            features = self._features()
            surprise = self._surprise(features)
            if self._seen > self.warmup and surprise is not None:
                verdict = Verdict(
                    min(surprise / (2.0 * self.threshold), 1.0),
                    self._decide(surprise),
                    expected=deviation.expected,
                    spread=deviation.spread,
                    deviation=deviation.value,
                )
            for feature, past in zip(features, self._past, strict=True):
                if feature is not None:
                    past.add(feature)
        self._baseline.add(timestamp, value)
        return verdict

    def _features(self) -> list[float | None]:
        """The absolute mean deviation over each horizon (None until that many deviations exist)."""
        recent = list(self._deviations)
        return [abs(sum(recent[-h:]) / h) if len(recent) >= h else None for h in self.horizons]

    def _surprise(self, features: list[float | None]) -> float | None:
        """The largest ratio of a horizon's value to its past ``quantile`` (None: too little history)."""
        best: float | None = None
        for feature, past, floor in zip(features, self._past, self._floors, strict=True):
            if feature is None or len(past) < self.min_history:
                continue
            ordered = past.sorted
            bar = max(ordered[int(self.quantile * (len(ordered) - 1))], floor, 1e-12)
            ratio = feature / bar
            best = ratio if best is None else max(best, ratio)
        return best

    def _decide(self, surprise: float) -> bool:
        if surprise >= self.threshold:
            rested = self._last_alert is None or self._seen - self._last_alert > self.cooldown
            if self._armed and rested:
                self._armed = False
                self._last_alert = self._seen
                return True
        elif surprise < self.rearm * self.threshold:
            self._armed = True
        return False


@DETECTORS.register(HorizonSurprise.name)
def horizon_surprise(**options: float) -> HorizonSurprise:
    return HorizonSurprise(**options)  # type: ignore[arg-type]
