"""The proportion test: a share's rise against an uncertain baseline, with small counts."""

import pytest

from opinara.signals.detectors.proportion import ProportionRise, beta_binomial_tail


def test_the_issue_example_is_a_clear_rise():
    change = ProportionRise().test(38, 200, 64, 1600)
    assert change.alert and change.rate == 0.19
    assert change.baseline_rate == pytest.approx(65 / 1602)
    assert change.ratio == pytest.approx(0.19 / (65 / 1602)) and change.p_value < 1e-9 and change.score == 1.0


def test_luck_in_small_counts_is_no_alert():
    test = ProportionRise()
    assert not test.test(3, 10, 1, 40).alert, "3 of 10 against 1 of 40: too little volume"
    assert not test.test(12, 200, 64, 1600).alert, "6% against 4%: within what chance gives"
    assert not test.test(0, 0, 0, 0).alert and test.test(0, 0, 0, 0).p_value == 1.0
    assert not test.test(5, 40, 0, 0).alert, "no baseline at all: the flat prior says nothing is surprising"


def test_an_uncertain_baseline_asks_for_more_than_a_known_one():
    test = ProportionRise()
    known = test.test(25, 200, 400, 8000)  # 12.5% against 5% on a large baseline
    shaky = test.test(25, 200, 5, 100)  # against the same rate on a small one
    assert known.p_value < shaky.p_value
    assert known.alert and not shaky.alert


def test_the_exact_tail_matches_a_direct_sum_and_the_approximation_is_close():
    from math import comb, exp, lgamma

    def pmf(i, n, a, b):
        beta = lambda x, y: exp(lgamma(x) + lgamma(y) - lgamma(x + y))  # noqa: E731
        return comb(n, i) * beta(i + a, n - i + b) / beta(a, b)

    assert beta_binomial_tail(7, 30, 3.0, 50.0) == pytest.approx(sum(pmf(i, 30, 3.0, 50.0) for i in range(7, 31)))
    assert beta_binomial_tail(0, 30, 3.0, 50.0) == 1.0 and beta_binomial_tail(31, 30, 3.0, 50.0) == 0.0
    exact = beta_binomial_tail(5200, 100_000, 50.0, 950.0)
    assert 0.0 < exact < 1.0


def test_bad_counts_and_options_are_refused():
    with pytest.raises(ValueError):
        ProportionRise().test(5, 4, 0, 10)
    with pytest.raises(ValueError):
        ProportionRise(alpha=0.7)
