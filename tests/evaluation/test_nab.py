"""NAB's scoring rules, on hand-made files whose scores follow from the rules by hand."""

from datetime import UTC, datetime, timedelta

import pytest

from opinara.evaluation.nab import PROFILES, FileScore, normalized, probation, score_file, sigma

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 1000
TIMES = [T0 + timedelta(minutes=5 * i) for i in range(ROWS)]
WINDOW = (TIMES[500], TIMES[600])  # rows 500..600, width 100


def alerts_at(*rows: int) -> list[bool]:
    marks = [False] * ROWS
    for row in rows:
        marks[row] = True
    return marks


def test_the_scaled_sigmoid_matches_nab():
    assert sigma(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert sigma(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert sigma(0.0) == 0.0
    assert sigma(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert sigma(3.5) == -1.0 and sigma(-3.5) == 1.0


def test_probation_is_15_percent_at_most_750_rows():
    assert probation(1000) == 150 and probation(4032) == 604 and probation(22695) == 750


def test_an_early_alert_scores_almost_one_and_later_ones_in_the_window_cost_nothing():
    early = score_file(TIMES, alerts_at(500, 510, 590), [WINDOW])
    assert early.raw == pytest.approx(0.98661, abs=1e-5) and early.detected == 1 and early.false_alerts == 0
    middle = score_file(TIMES, alerts_at(550), [WINDOW])
    assert middle.raw == pytest.approx(0.84828, abs=1e-5)


def test_a_miss_costs_fn_and_false_alerts_cost_by_distance():
    assert score_file(TIMES, alerts_at(), [WINDOW]).raw == -1.0
    before = score_file(TIMES, alerts_at(300), [WINDOW])  # no window precedes it: -fp
    assert before.raw == pytest.approx(-1.0 - 0.11) and before.false_alerts == 1
    after = score_file(TIMES, alerts_at(550, 700), [WINDOW])  # one width after the window's end
    assert after.raw == pytest.approx(0.84828 + 0.11 * -0.98661, abs=1e-5)
    in_probation = score_file(TIMES, alerts_at(10), [WINDOW])
    assert in_probation.false_alerts == 0 and in_probation.raw == -1.0


def test_reward_low_fn_doubles_the_cost_of_a_miss():
    assert score_file(TIMES, alerts_at(), [WINDOW], PROFILES["reward_low_FN_rate"]).raw == -2.0


def test_normalized_is_0_for_never_alerting_and_near_100_for_early_alerts():
    files = [score_file(TIMES, alerts_at(), [WINDOW]), score_file(TIMES, alerts_at(), [])]
    assert normalized(files) == 0.0
    perfect = [score_file(TIMES, alerts_at(500), [WINDOW]), FileScore(0.0, 0, 0, 0)]
    assert normalized(perfect) == pytest.approx(100 * (0.98661 + 1) / 2, abs=1e-3)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError):
        score_file(TIMES, [False], [WINDOW])
