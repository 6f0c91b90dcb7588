"""``detector.proportion.v1``: did a share rise against its baseline, counting what small counts can say?

The question behind a sentiment dip: of this week's 200 reviews of a product, 38 complain about the
battery; over the eight weeks before, 64 of 1,600 did. Is 19% against 4% a change, or luck?

The baseline rate is itself uncertain when its counts are small, so the test does not plug in 4% as if
it were known: the rate is a Beta(baseline_count + 1, baseline_total - baseline_count + 1) (the baseline
counts over a flat prior), and this period's count is judged by its beta-binomial distribution, the
count one expects from ``total`` draws at a rate that uncertain. The p-value is the chance of a count at
least this high; it is computed exactly (in log space) for totals up to ``EXACT_MAX`` and by a normal
approximation with the same mean and variance beyond.

An alert needs all of: enough volume (``min_total`` this period, ``min_count`` of them counted), a rise
of at least ``min_ratio`` times the baseline rate, and ``p <= alpha``. Zero baselines, zero totals and
tiny counts never divide by zero and never alert on their own. Pure; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opinara.signals.detectors.base import DETECTORS

EXACT_MAX = 5000


@dataclass(frozen=True)
class ShareChange:
    count: int
    total: int
    baseline_count: int
    baseline_total: int
    rate: float  # count / total (0 when total is 0)
    baseline_rate: float  # the baseline's posterior mean, (baseline_count + 1) / (baseline_total + 2)
    ratio: float  # rate / baseline_rate
    p_value: float
    score: float  # in [0, 1]: -log10(p) / (2 * -log10(alpha)), capped; 0.5 at alpha
    alert: bool


class ProportionRise:
    name = "detector.proportion.v1"

    def __init__(self, alpha: float = 0.001, min_ratio: float = 1.5, min_total: int = 30, min_count: int = 5) -> None:
        if not 0 < alpha < 0.5 or min_ratio < 1 or min_total < 1 or min_count < 1:
            raise ValueError("0 < alpha < 0.5, min_ratio >= 1, min_total >= 1, min_count >= 1")
        self.alpha = alpha
        self.min_ratio = min_ratio
        self.min_total = int(min_total)
        self.min_count = int(min_count)

    def test(self, count: int, total: int, baseline_count: int, baseline_total: int) -> ShareChange:
        if min(count, total, baseline_count, baseline_total) < 0 or count > total or baseline_count > baseline_total:
            raise ValueError("counts must be non-negative and at most their totals")
        a, b = baseline_count + 1.0, baseline_total - baseline_count + 1.0
        baseline_rate = a / (a + b)
        rate = count / total if total else 0.0
        ratio = rate / baseline_rate
        p_value = beta_binomial_tail(count, total, a, b) if total else 1.0
        score = min(-math.log10(max(p_value, 1e-300)) / (2.0 * -math.log10(self.alpha)), 1.0)
        alert = (
            total >= self.min_total and count >= self.min_count and ratio >= self.min_ratio and p_value <= self.alpha
        )
        return ShareChange(
            count, total, baseline_count, baseline_total, rate, baseline_rate, ratio, p_value, max(score, 0.0), alert
        )


def beta_binomial_tail(k: int, n: int, a: float, b: float) -> float:
    """P(X >= k) for X ~ BetaBinomial(n, a, b)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if n > EXACT_MAX:
        mean = n * a / (a + b)
        variance = n * a * b * (a + b + n) / ((a + b) ** 2 * (a + b + 1))
        z = (k - 0.5 - mean) / math.sqrt(variance)
        return 0.5 * math.erfc(z / math.sqrt(2.0))
    base = _log_beta(a, b)
    logs = [_log_choose(n, i) + _log_beta(i + a, n - i + b) - base for i in range(k, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(value - top) for value in logs))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


@DETECTORS.register(ProportionRise.name)
def proportion_rise(**options: float) -> ProportionRise:
    return ProportionRise(**options)  # type: ignore[arg-type]
