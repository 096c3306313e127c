"""The cross-workload score against a hand-computed 3-optimizer x 3-workload example."""

from __future__ import annotations

import math

import pytest

from ganopt.study.leaderboard import benchmark_score, profile, ratios

INF = math.inf
TIMES = {  # optimizer -> workload -> time to target (inf: missed)
    "a": {"ring": 10.0, "grid": 30.0, "digits": INF},
    "b": {"ring": 20.0, "grid": 15.0, "digits": INF},
    "c": {"ring": INF, "grid": 15.0, "digits": 40.0},
}


def test_ratios_are_to_the_fastest_optimizer_of_each_workload() -> None:
    r = ratios(TIMES)
    assert r["a"] == {"ring": 1.0, "grid": 2.0, "digits": INF}
    assert r["b"] == {"ring": 2.0, "grid": 1.0, "digits": INF}
    assert r["c"] == {"ring": INF, "grid": 1.0, "digits": 1.0}


def test_profiles_count_the_workloads_within_tau() -> None:
    r = ratios(TIMES)
    assert profile(r["a"], 3, 1.0) == pytest.approx(1 / 3)
    assert profile(r["a"], 3, 1.5) == pytest.approx(1 / 3)
    assert profile(r["a"], 3, 2.0) == pytest.approx(2 / 3)
    assert profile(r["c"], 3, 4.0) == pytest.approx(2 / 3)


def test_the_score_is_the_profiles_area_up_to_r_max() -> None:
    """B = 1/3 · Σ_w (4 − r_w)/3 over the solved workloads: a (1, 2): 5/9; b (2, 1): 5/9;
    c (1, 1): 2/3."""
    r = ratios(TIMES)
    assert benchmark_score(r["a"], 3) == pytest.approx(5 / 9)
    assert benchmark_score(r["b"], 3) == pytest.approx(5 / 9)
    assert benchmark_score(r["c"], 3) == pytest.approx(2 / 3)
    taus = [1 + 3 * i / 30000 for i in range(30001)]  # the integral, numerically
    numeric = sum(profile(r["c"], 3, t) for t in taus[1:]) * (3 / 30000) / 3
    assert numeric == pytest.approx(2 / 3, abs=1e-3)


def test_a_workload_nobody_solved_and_a_missing_optimizer() -> None:
    times = {"a": {"ring": INF, "grid": 5.0}, "b": {"ring": INF}}
    r = ratios(times)
    assert r["a"]["ring"] == INF and r["b"]["ring"] == INF
    assert benchmark_score(r["a"], 2) == pytest.approx(0.5)
    assert benchmark_score(r["b"], 2) is None  # did not run grid: missing, not a zero
