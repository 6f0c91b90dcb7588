"""What a point is expected to be, from the points before it: the shared first step of the detectors.

- Level: the median of the last ``window`` values. Seasonal: once two days are seen, the median of the
  point's 15-minute slot of the day over the last ``days`` days. The deviation is the point's distance
  from the nearer of the two, in robust spreads of the level (``1.4826 * MAD``, the standard deviation
  for normal data, unmoved by the outliers it should find): a daily rhythm is no anomaly, a departure
  from both is.
- Where more than half the values are equal (a flat or mostly idle series) the MAD is 0; the spread then
  falls back to the mean absolute deviation, and to a small share of the level when even that is 0, so
  float noise on a flat line is no alarm and a real move off it is.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from datetime import datetime

NORMAL_MAD = 1.4826
NORMAL_MEAN_AD = 1.2533  # standard deviation / mean absolute deviation, for normal data
FLAT_SHARE = 1e-3  # the least spread allowed, as a share of the level
SLOT_MINUTES = 15
MIN_LEVEL_POINTS = 10


class RollingSorted:
    """The last ``size`` values, in arrival order and sorted: median and MAD without a sort per point."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._order: deque[float] = deque()
        self.sorted: list[float] = []

    def __len__(self) -> int:
        return len(self.sorted)

    def add(self, value: float) -> None:
        self._order.append(value)
        bisect.insort(self.sorted, value)
        if len(self._order) > self.size:
            old = self._order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]


def median(ordered: list[float]) -> float:
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def center_and_spread(ordered: list[float]) -> tuple[float, float]:
    """Median and robust spread of sorted values (see the module's notes on flat data)."""
    center = median(ordered)
    deviations = sorted(abs(value - center) for value in ordered)
    spread = NORMAL_MAD * median(deviations)
    if spread == 0.0:
        spread = NORMAL_MEAN_AD * sum(deviations) / len(deviations)
    return center, max(spread, FLAT_SHARE * abs(center), 1e-9)


@dataclass(frozen=True)
class Deviation:
    expected: float
    spread: float
    value: float  # signed, in spreads


class SeasonalBaseline:
    def __init__(self, window: int = 500, days: int = 7) -> None:
        if window < MIN_LEVEL_POINTS or days < 2:
            raise ValueError(f"window >= {MIN_LEVEL_POINTS} and days >= 2")
        self._level = RollingSorted(int(window))
        self._days = int(days)
        self._slots: dict[int, deque[tuple[int, float]]] = {}  # slot of the day -> (day, value)
        self._first_day: int | None = None

    def deviation(self, moment: datetime, value: float) -> Deviation | None:
        """How far ``value`` lies from what was expected at ``moment``; None while too little is known."""
        if len(self._level) < MIN_LEVEL_POINTS:
            return None
        center, spread = center_and_spread(self._level.sorted)
        best = Deviation(center, spread, (value - center) / spread)
        day, slot = _day_and_slot(moment)
        earlier = [v for d, v in self._slots.get(slot, ()) if day - d <= self._days and d < day]
        if self._first_day is not None and day - self._first_day >= 2 and len(earlier) >= 2:
            seasonal = median(sorted(earlier))
            if abs(value - seasonal) < abs(value - center):
                best = Deviation(seasonal, spread, (value - seasonal) / spread)
        return best

    def add(self, moment: datetime, value: float) -> None:
        self._level.add(value)
        day, slot = _day_and_slot(moment)
        if self._first_day is None:
            self._first_day = day
        kept = self._slots.setdefault(slot, deque())
        kept.append((day, value))
        while kept and day - kept[0][0] > self._days:
            kept.popleft()


def _day_and_slot(moment: datetime) -> tuple[int, int]:
    minutes = int(moment.timestamp() // 60)
    return minutes // (24 * 60), (minutes % (24 * 60)) // SLOT_MINUTES
