"""Volume spikes and drops against an overdispersed baseline; level shifts by CUSUM."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from opinara.signals.detectors.counts import CountTest, _cdf
from opinara.signals.detectors.cusum import LevelShift

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_spike_and_a_drop_against_a_steady_history():
    history = [40, 44, 38, 41, 45, 39, 42, 43]
    test = CountTest()
    spike = test.test(130, history)
    assert spike.alert and spike.direction == "spike" and spike.ratio == pytest.approx(130 / 41.5)
    drop = test.test(6, history)
    assert drop.alert and drop.direction == "drop"
    assert not test.test(52, history).alert, "within what such days bring"


def test_small_counts_and_short_histories_raise_nothing():
    test = CountTest()
    assert not test.test(3, [0, 0, 1, 0, 0, 0]).alert, "three mentions instead of none is no spike"
    assert not test.test(200, [10, 12]).alert, "two days are no baseline"
    assert not test.test(0, []).alert and test.test(0, []).p_value == 1.0


def test_overdispersed_history_asks_for_more():
    steady = CountTest().test(80, [40, 41, 39, 40, 42, 38, 40])
    bursty = CountTest().test(80, [10, 90, 25, 70, 15, 60, 10])
    assert steady.alert and not bursty.alert and bursty.p_value > steady.p_value


def test_the_negative_binomial_cdf_is_a_distribution():
    assert _cdf(-1, 5.0, 9.0) == 0.0
    assert _cdf(200, 5.0, 9.0) == pytest.approx(1.0)
    assert _cdf(5, 5.0, 5.0) == pytest.approx(0.6159606, abs=1e-6)  # Poisson(5) at 5
    assert 0 < _cdf(5, 5.0, 20.0) < 1


def series(values):
    return [(T0 + timedelta(days=i), v) for i, v in enumerate(values)]


def test_a_small_persistent_shift_is_found_once_near_its_onset():
    rng = random.Random(4)
    values = [0.40 + rng.gauss(0, 0.03) for _ in range(60)] + [0.33 + rng.gauss(0, 0.03) for _ in range(40)]
    detector = LevelShift()
    alerts = [i for i, (t, v) in enumerate(series(values)) if detector.update(t, v).alert]
    assert len(alerts) == 1 and 60 <= alerts[0] <= 68


def test_noise_gaps_and_flat_lines_raise_no_shift():
    rng = random.Random(9)
    for values in ([0.4 + rng.gauss(0, 0.03) for _ in range(300)], [5.0] * 200, [None, 1.0, None] * 50):
        detector = LevelShift()
        verdicts = [detector.update(t, v) for t, v in series(values)]
        assert not any(v.alert for v in verdicts) and all(0 <= v.score <= 1 for v in verdicts)
