"""``detector.ensemble.v2``: ``detector.ensemble.v1`` with a view of the noise and a view of lasting
surprise, and an alert policy tuned to the NAB costs.

Everything of ``detector.ensemble.v1`` stays (the level, season and context scores, each judged against
its own past, the gating of spikes by the context). On top, per point, streaming:

- *volatility*: how far the mean absolute step (the change of the deviation from one point to the
  next) of the last ``burst`` points departs, either way, from that of the last ``calm_span`` points
  (the log of their ratio): a series that turns noisy, or goes quiet or dead. Steps, not deviations,
  so that a level shift (one step) and the baseline catching up with it later are no noise. Judged against its own past like the other scores.
- *lasting*: the mean surprise of the last ``lasting`` points, judged against its own past: a run of
  moderate surprises, none at the bar on its own, is an anomaly as a whole (the idea of HTM's anomaly
  likelihood, over a moving average of the raw anomaly score). Off by default (``lasting=0``): on the
  NAB files it added false alerts and no windows.

Alert policy: NAB charges little for an alert outside a window (``-0.11``) and much for a missed window
(``-1``), and the first alert in a window scores more the earlier it comes; so the detector rearms
sooner (a shorter ``cooldown``, a lower ``rearm``) than v1, so that a false alert's quiet time does not
block the real anomaly that follows it.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

from opinara.signals.detectors.base import DETECTORS
from opinara.signals.detectors.baseline import RollingSorted
from opinara.signals.detectors.ensemble import EnsembleSurprise

TINY = 1e-9


class EnsembleSurprise2(EnsembleSurprise):
    name = "detector.ensemble.v2"

    def __init__(
        self,
        *,
        cooldown: int = 30,
        rearm: float = 0.5,
        volatility: float = 1,
        burst: int = 40,
        calm_span: int = 300,
        volatility_floor: float = 1.0,
        lasting: int = 0,
        lasting_floor: float = 0.5,
        **options: float,
    ) -> None:
        super().__init__(cooldown=cooldown, rearm=rearm, **options)  # type: ignore[arg-type]
        if burst < 1 or calm_span <= burst or lasting < 0 or volatility_floor < 0 or lasting_floor < 0:
            raise ValueError("burst >= 1, calm_span > burst, lasting >= 0, floors >= 0")
        self.burst = int(burst)
        self.calm_span = int(calm_span)
        self.volatility_floor = volatility_floor
        self.lasting_floor = lasting_floor
        self._volatility = bool(volatility)
        self._magnitudes: deque[float] = deque(maxlen=self.calm_span)
        self._sums = [0.0, 0.0]  # of the last ``burst`` and the last ``calm_span`` magnitudes
        self._volatility_past = RollingSorted(self._past[0].size)
        self._lasting: deque[float] = deque(maxlen=int(lasting)) if lasting else None
        self._lasting_past = RollingSorted(self._past[0].size)
        self._pending: float | None = None
        self._previous: float | None = None

    def _features(self, moment: datetime, value: float, deviation: float, spread: float) -> list[float | None]:
        if self._volatility and self._previous is not None:
            self._pending = self._volatility_of(abs(deviation - self._previous))
        self._previous = deviation
        return super()._features(moment, value, deviation, spread)

    def _volatility_of(self, magnitude: float) -> float | None:
        recent = self._magnitudes
        if len(recent) == recent.maxlen:
            self._sums[1] -= recent[0]
        if len(recent) >= self.burst:
            self._sums[0] -= recent[-self.burst]
        recent.append(magnitude)
        self._sums[0] += magnitude
        self._sums[1] += magnitude
        if len(recent) < self.calm_span:
            return None
        short = max(self._sums[0], 0.0) / self.burst
        long = max(self._sums[1], 0.0) / self.calm_span
        return abs(math.log((short + 0.05) / (long + 0.05)))

    def _surprise(self, features: list[float | None]) -> float | None:
        found = super()._surprise(features)
        extra = self._judge(self._pending, self._volatility_past, self.volatility_floor)
        if extra is not None:
            found = extra if found is None else max(found, extra)
        if self._lasting is not None and found is not None:
            self._lasting.append(found)
            if len(self._lasting) == self._lasting.maxlen:
                mean = sum(self._lasting) / len(self._lasting)
                lasting = self._judge(mean, self._lasting_past, self.lasting_floor)
                found = found if lasting is None else max(found, lasting)
        return found

    def _judge(self, feature: float | None, past: RollingSorted, floor: float) -> float | None:
        """The feature over its past ``quantile`` (None while too little is known); then it joins the past."""
        if feature is None:
            return None
        ratio = None
        if len(past) >= self.min_history:
            ordered = past.sorted
            ratio = feature / max(ordered[int(self.quantile * (len(ordered) - 1))], floor, 1e-12)
        past.add(feature)
        return ratio


@DETECTORS.register(EnsembleSurprise2.name)
def ensemble_surprise2(**options: float) -> EnsembleSurprise2:
    return EnsembleSurprise2(**options)  # type: ignore[arg-type]
