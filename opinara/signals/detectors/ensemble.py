"""``detector.ensemble.v1``: several cheap views of a point, each judged against its own past.

Per point, all streaming (no look-ahead):

1. **Raw scores.** Each is a non-negative number that is large when the point is unusual in one way:

   - *level*: the mean signed deviation from the shared baseline (level or time-of-day slot, the nearer,
     in robust spreads) over the last ``short``, ``middle`` and ``long`` points, as in
     ``detector.surprise.v1``: a spike, a shift, a dip;
   - *season*: the mean signed deviation from the point's time-of-day slot alone over the last
     ``middle`` and ``long`` points, once ``days`` of slots are known: a day that departs from the
     daily rhythm while staying inside the series' usual range (a flat day, higher peaks);
   - *context*: the distance of the last ``width`` values to their ``k`` nearest neighbours among the
     earlier, non-overlapping windows of the same width (the last ``neighbours``), in spreads: a shape
     never seen before, the idea of conformal k-nearest-neighbour detectors (KNN-CAD).

2. **Surprise.** Each raw score keeps the distribution of its own past values (the last ``history``),
   and its surprise is the current value over that distribution's ``quantile`` (floored, so that a flat
   or idle series, whose scores are all near zero, calls no float noise a surprise). The season scores
   count once ``season_history`` of them exist (their first days are too few to set a bar).
3. **Combined.** The first ``gated`` scores (by default the short horizon: single-point spikes) count
   only as far as the context allows: their surprise is capped at ``context / combine``, so a jump to a
   value the series has visited in the same shape before (a daily burst, a recurring spike) is no
   anomaly, and a new one is. The longer horizons and the season scores count as they are: a shift or
   a drift is an anomaly even when each value on its own has been seen. The point's surprise is the
   largest of these.
4. **Alert, onset first.** An alert at the first point at or over ``threshold`` after ``warmup``; then
   the detector is disarmed until the surprise has stayed under ``rearm * threshold`` for ``calm``
   points and ``cooldown`` points have passed since the alert: one insight per anomaly, at its start.

Score: ``surprise / (2 * threshold)`` capped at 1, so 0.5 exactly at the alert bar.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

import numpy as np

from opinara.signals.detectors.base import DETECTORS, QUIET, Verdict
from opinara.signals.detectors.baseline import RollingSorted, SeasonalBaseline, median

SLOT_MINUTES = 15


class SlotMedians:
    """The median of each 15-minute slot of the day over the last ``days`` days, before today."""

    def __init__(self, days: int) -> None:
        self._days = days
        self._slots: dict[int, deque[tuple[int, float]]] = {}
        self._first_day: int | None = None

    def expected(self, moment: datetime) -> float | None:
        day, slot = _day_and_slot(moment)
        if self._first_day is None or day - self._first_day < 2:
            return None
        earlier = [v for d, v in self._slots.get(slot, ()) if d < day]
        return median(sorted(earlier)) if len(earlier) >= 2 else None

    def add(self, moment: datetime, value: float) -> None:
        day, slot = _day_and_slot(moment)
        if self._first_day is None:
            self._first_day = day
        kept = self._slots.setdefault(slot, deque())
        kept.append((day, value))
        while kept and day - kept[0][0] > self._days:
            kept.popleft()


class Neighbours:
    """Windows of the last ``width`` values, and the mean distance of the newest to its ``k`` nearest
    earlier windows (those that do not overlap it)."""

    def __init__(self, width: int, k: int, size: int) -> None:
        self.width = width
        self.k = k
        self._store = np.zeros((size, width))
        self._norms = np.zeros(size)
        self._count = 0
        self._recent: deque[float] = deque(maxlen=width)
        self._pending: deque[np.ndarray] = deque()

    def distance(self, value: float) -> float | None:
        """Push ``value``; the newest window's neighbour distance (None while too few are stored)."""
        self._recent.append(value)
        if len(self._recent) < self.width:
            return None
        window = np.fromiter(self._recent, float, self.width)
        found: float | None = None
        stored = min(self._count, len(self._store))
        if stored >= 4 * self.k:
            squares = self._norms[:stored] - 2.0 * (self._store[:stored] @ window) + float(window @ window)
            nearest = np.partition(squares, self.k - 1)[: self.k]
            found = float(np.sqrt(np.maximum(nearest, 0.0)).mean())
        self._pending.append(window)
        if len(self._pending) > self.width:  # a window joins the past once it no longer overlaps
            oldest = self._pending.popleft()
            self._store[self._count % len(self._store)] = oldest
            self._norms[self._count % len(self._store)] = float(oldest @ oldest)
            self._count += 1
        return found


class EnsembleSurprise:
    name = "detector.ensemble.v1"

    def __init__(
        self,
        window: int = 500,
        days: int = 7,
        history: int = 3000,
        short: int = 3,
        middle: int = 10,
        long: int = 30,
        season: float = 1,
        context: float = 1,
        width: int = 2,
        k: int = 1,
        neighbours: int = 1500,
        quantile: float = 0.99,
        threshold: float = 1.3,
        floor: float = 4,
        warmup: int = 150,
        min_history: int = 300,
        cooldown: int = 100,
        rearm: float = 0.7,
        calm: int = 1,
        combine: float = 0.3,
        gated: int = 1,
        season_history: int = 900,
    ) -> None:
        horizons = [int(short), int(middle), int(long)]
        if history < 20 or min(horizons) < 1 or width < 1 or k < 1 or neighbours < 4 * k:
            raise ValueError("history >= 20, horizons >= 1, width >= 1, k >= 1, neighbours >= 4k")
        if not 0.5 <= quantile < 1 or threshold <= 0 or floor < 0 or not 0 < rearm <= 1:
            raise ValueError("0.5 <= quantile < 1, threshold > 0, floor >= 0, 0 < rearm <= 1")
        if warmup < 1 or min_history < 1 or cooldown < 0 or calm < 1:
            raise ValueError("warmup >= 1, min_history >= 1, cooldown >= 0 and calm >= 1")
        if combine < 0 or gated < 0 or season_history < 1:
            raise ValueError("combine >= 0, gated >= 0 and season_history >= 1")
        self.horizons = horizons
        self.season_horizons = [int(middle), int(long)] if season else []
        self.quantile = quantile
        self.threshold = threshold
        self.warmup = int(warmup)
        self.min_history = int(min_history)
        self.cooldown = int(cooldown)
        self.rearm = rearm
        self.calm = int(calm)
        self.combine = combine
        self.gated = int(gated)
        self.season_history = max(int(season_history), self.min_history)
        self._floors = [floor / math.sqrt(h) for h in horizons]
        self._floors += [floor / math.sqrt(h) for h in self.season_horizons]
        self._context_floor = floor
        self._baseline = SeasonalBaseline(int(window), int(days))
        self._slots = SlotMedians(int(days))
        self._neighbours = Neighbours(int(width), int(k), int(neighbours)) if context else None
        longest = max(horizons)
        self._deviations: deque[float] = deque(maxlen=longest)
        self._seasonal: deque[float] = deque(maxlen=longest)
        count = len(self._floors) + (1 if context else 0)
        self._past = [RollingSorted(int(history)) for _ in range(count)]
        self._seen = 0
        self._last_alert: int | None = None
        self._armed = True
        self._quiet = 0

    def update(self, timestamp: datetime, value: float | None) -> Verdict:
        if value is None or not math.isfinite(value):
            return QUIET
        self._seen += 1
        verdict = QUIET
        deviation = self._baseline.deviation(timestamp, value)
        if deviation is not None:
            features = self._features(timestamp, value, deviation.value, deviation.spread)
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
        self._slots.add(timestamp, value)
        return verdict

    def _features(self, moment: datetime, value: float, deviation: float, spread: float) -> list[float | None]:
        """Each raw score (None while it cannot be had yet)."""
        self._deviations.append(deviation)
        recent = list(self._deviations)
        features: list[float | None] = [abs(sum(recent[-h:]) / h) if len(recent) >= h else None for h in self.horizons]
        if self.season_horizons:
            expected = self._slots.expected(moment)
            if expected is None:
                self._seasonal.clear()
            else:
                self._seasonal.append((value - expected) / spread)
            seasonal = list(self._seasonal)
            features += [abs(sum(seasonal[-h:]) / h) if len(seasonal) >= h else None for h in self.season_horizons]
        if self._neighbours is not None:
            gap = self._neighbours.distance(value)
            features.append(None if gap is None else gap / spread / math.sqrt(self._neighbours.width))
        return features

    def _surprise(self, features: list[float | None]) -> float | None:
        """The largest ratio of a raw score to its past ``quantile`` (None: too little history)."""
        ratios: list[float | None] = []
        floors = self._floors + ([self._context_floor] if self._neighbours is not None else [])
        needed = [self.min_history] * len(self.horizons) + [self.season_history] * len(self.season_horizons)
        needed += [self.min_history] if self._neighbours is not None else []
        for feature, past, floor, least in zip(features, self._past, floors, needed, strict=True):
            if feature is None or len(past) < least:
                ratios.append(None)
                continue
            ordered = past.sorted
            bar = max(ordered[int(self.quantile * (len(ordered) - 1))], floor, 1e-12)
            ratios.append(feature / bar)
        if self._neighbours is not None and self.combine:
            context = ratios[-1]
            cut = self.gated if self.gated else len(ratios) - 1
            gated = [r for r in ratios[:cut] if r is not None]
            free = [r for r in ratios[cut:-1] if r is not None]
            if gated and context is not None:
                gated = [min(max(gated), context / self.combine)]
            found = gated + free
            return max(found) if found else None
        found = [r for r in ratios if r is not None]
        return max(found) if found else None

    def _decide(self, surprise: float) -> bool:
        if surprise >= self.threshold:
            self._quiet = 0
            rested = self._last_alert is None or self._seen - self._last_alert > self.cooldown
            if self._armed and rested:
                self._armed = False
                self._last_alert = self._seen
                return True
        elif surprise < self.rearm * self.threshold:
            self._quiet += 1
            if self._quiet >= self.calm:
                self._armed = True
        else:
            self._quiet = 0
        return False


def _day_and_slot(moment: datetime) -> tuple[int, int]:
    minutes = int(moment.timestamp() // 60)
    return minutes // (24 * 60), (minutes % (24 * 60)) // SLOT_MINUTES


@DETECTORS.register(EnsembleSurprise.name)
def ensemble_surprise(**options: float) -> EnsembleSurprise:
    return EnsembleSurprise(**options)  # type: ignore[arg-type]
