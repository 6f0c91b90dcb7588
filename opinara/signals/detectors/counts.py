"""``detector.counts.v1``: is a day's count a spike or a drop against what such days usually bring?

Volumes (reviews a day, mentions a day) are counts, and counts of social posts are overdispersed: their
spread is wider than a Poisson's. The baseline is the history handed in (the same weekday over past weeks
when the caller has them, which takes weekly seasonality out; else the recent days). From it, a negative
binomial with the history's mean and variance (method of moments; a Poisson when the variance is no
larger than the mean, as with very steady or very small counts). The p-value is the tail beyond today's
count in the direction it moved. An alert needs ``p <= alpha``, a change of at least ``min_ratio`` times
(or down to ``1 / min_ratio``), enough history, and enough volume on the larger side (``min_count``), so
two mentions instead of none is no spike. Pure; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from opinara.signals.detectors.base import DETECTORS

EXACT_MAX = 20_000


@dataclass(frozen=True)
class CountChange:
    count: int
    expected: float  # the baseline mean
    spread: float  # the baseline standard deviation
    ratio: float  # count / expected (expected floored at 0.5)
    direction: Literal["spike", "drop", "none"]
    p_value: float
    score: float  # in [0, 1]; 0.5 at alpha
    alert: bool


class CountTest:
    name = "detector.counts.v1"

    def __init__(self, alpha: float = 0.001, min_ratio: float = 2.0, min_count: int = 10, min_history: int = 4) -> None:
        if not 0 < alpha < 0.5 or min_ratio < 1 or min_count < 1 or min_history < 2:
            raise ValueError("0 < alpha < 0.5, min_ratio >= 1, min_count >= 1, min_history >= 2")
        self.alpha = alpha
        self.min_ratio = min_ratio
        self.min_count = int(min_count)
        self.min_history = int(min_history)

    def test(self, count: int, history: list[int]) -> CountChange:
        if count < 0 or any(value < 0 for value in history):
            raise ValueError("counts must be non-negative")
        n = len(history)
        mean = sum(history) / n if n else 0.0
        variance = sum((value - mean) ** 2 for value in history) / (n - 1) if n > 1 else mean
        expected = max(mean, 0.5)
        ratio = count / expected
        direction: Literal["spike", "drop", "none"] = "spike" if count > mean else "drop" if count < mean else "none"
        if direction == "none" or n == 0:
            p_value = 1.0
        elif direction == "spike":
            p_value = 1.0 - _cdf(count - 1, expected, variance)
        else:
            p_value = _cdf(count, expected, variance)
        p_value = min(max(p_value, 0.0), 1.0)
        changed = ratio >= self.min_ratio if direction == "spike" else ratio <= 1.0 / self.min_ratio
        alert = (
            n >= self.min_history
            and direction != "none"
            and changed
            and max(count, mean) >= self.min_count
            and p_value <= self.alpha
        )
        score = min(-math.log10(max(p_value, 1e-300)) / (2.0 * -math.log10(self.alpha)), 1.0)
        return CountChange(count, mean, math.sqrt(variance), ratio, direction, p_value, max(score, 0.0), alert)


def _cdf(k: int, mean: float, variance: float) -> float:
    """P(X <= k) for a negative binomial with this mean and variance (a Poisson when variance <= mean)."""
    if k < 0:
        return 0.0
    if k > EXACT_MAX:
        z = (k + 0.5 - mean) / math.sqrt(max(variance, mean))
        return 0.5 * math.erfc(-z / math.sqrt(2.0))
    if variance <= mean * 1.0001:
        logs = [i * math.log(mean) - mean - math.lgamma(i + 1) for i in range(k + 1)]
    else:
        r = mean * mean / (variance - mean)
        p = mean / variance  # success probability in the (r, p) form whose mean is r(1-p)/p
        logs = [
            math.lgamma(i + r) - math.lgamma(r) - math.lgamma(i + 1) + r * math.log(p) + i * math.log1p(-p)
            for i in range(k + 1)
        ]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(value - top) for value in logs))


@DETECTORS.register(CountTest.name)
def count_test(**options: float) -> CountTest:
    return CountTest(**options)  # type: ignore[arg-type]
