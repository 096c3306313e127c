"""The study's statistics against values computed by hand."""

from __future__ import annotations

import pytest

from ganopt.study.stats import (
    bootstrap_ci,
    busy_seconds,
    efficiency,
    expected_max,
    probability_of_improvement,
)


def test_expected_max_by_hand() -> None:
    scores = [3.0, 1.0, 2.0]  # sorted 1, 2, 3
    assert expected_max(scores, 1) == pytest.approx(2.0)  # the mean
    # k = 2: P(max = v_i) = (i/3)^2 - ((i-1)/3)^2 = 1/9, 3/9, 5/9
    assert expected_max(scores, 2) == pytest.approx((1 * 1 + 2 * 3 + 3 * 5) / 9)
    assert expected_max(scores, 50) == pytest.approx(3.0, abs=1e-6)  # many trials: the best


def test_bootstrap_ci_brackets_the_mean_and_collapses_for_constant_scores() -> None:
    low, high = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert low < 3.0 < high and low >= 1.0 and high <= 5.0
    assert bootstrap_ci([2.0] * 5) == (2.0, 2.0)
    # the mean of 5 draws from {1..5} is never below 1.0 or above 5.0, and the 95 % interval
    # of this symmetric case is symmetric about 3 up to resampling noise
    assert (3.0 - low) == pytest.approx(high - 3.0, abs=0.15)


def test_probability_of_improvement_counts_ties_as_half() -> None:
    assert probability_of_improvement([2.0, 3.0], [1.0, 1.0]) == 1.0
    # pairs: (1,1) tie ½, (1,2) 0, (3,1) 1, (3,2) 1 -> 2.5 / 4
    assert probability_of_improvement([1.0, 3.0], [1.0, 2.0]) == pytest.approx(0.625)


def test_busy_seconds_is_the_union_of_the_trial_intervals() -> None:
    # two workers overlapping on [2, 3], a gap [5, 10] between sessions, one interval inside another
    assert busy_seconds([(0.0, 3.0), (2.0, 5.0), (10.0, 12.0), (10.5, 11.0)]) == 7.0
    assert busy_seconds([]) == 0.0


def test_efficiency_by_hand() -> None:
    # 4 trials of 8,000 steps (2 gradient evaluations each) at a hand-loop rate of 80 steps/s
    # take 4 * 100 s = 400 s by hand: trials that took 200 s in all are at efficiency 2.0 ...
    assert efficiency(4 * 8000 * 2, 80.0, 200.0) == pytest.approx(2.0)
    # ... and 800 s in all (say two workers for 400 s each) is 0.5
    assert efficiency(4 * 8000 * 2, 80.0, 800.0) == pytest.approx(0.5)
