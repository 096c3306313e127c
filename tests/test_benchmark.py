"""The benchmark's report, on a few steps of the grid case (structure only: no timing asserts)."""

from __future__ import annotations

import statistics

import pytest
from conftest import TINY_MLP

from ganopt.benchmark import benchmark_case, format_case, main


@pytest.fixture(scope="module")
def report():
    return benchmark_case("grid_mlp", rounds=2, steps=8, warmup=3, extra_overrides=TINY_MLP)


def test_report_has_a_rate_of_each_path_per_round_and_their_ratios(report) -> None:
    assert len(report.full) == len(report.hand) == 2
    assert all(rate > 0 for rate in report.full + report.hand)
    assert report.ratios == [a / b for a, b in zip(report.full, report.hand, strict=True)]
    low, mid, high = report.ratio_summary
    assert low <= mid <= high
    assert (low, mid, high) == (
        min(report.ratios),
        statistics.median(report.ratios),
        max(report.ratios),
    )


def test_both_paths_do_the_same_work(report) -> None:
    # Same seed, networks, batches, noise and updates: on a CPU the last losses are equal.
    assert report.max_loss_difference == 0.0
    assert "data=gaussians_grid" in report.overrides and "model=mlp" in report.overrides


def test_table_shows_every_round_and_the_summary(report) -> None:
    lines = format_case(report, "cpu")
    assert sum(line.strip().startswith(("1 ", "2 ")) for line in lines) == 2
    assert any(line.strip().startswith("ratio (a)/(b): min") for line in lines)


def test_configs_the_hand_loop_cannot_reproduce_are_refused() -> None:
    with pytest.raises(ValueError, match="d_steps/g_steps"):
        benchmark_case("grid_mlp", rounds=1, steps=4, warmup=1, extra_overrides=["d_steps=2"])
    with pytest.raises(ValueError, match="warmup"):
        benchmark_case("grid_mlp", rounds=1, steps=4, warmup=4)


def test_command_line_prints_machine_facts_and_the_table(capsys) -> None:
    args = [
        "--case",
        "grid_mlp",
        "--rounds",
        "1",
        "--steps",
        "5",
        "--warmup",
        "2",
        "--threads",
        "1",
    ]
    assert main([*args, *TINY_MLP]) == 0
    out = capsys.readouterr().out
    assert "torch threads 1" in out and "load average" in out
    assert "case grid_mlp" in out and "ratio (a)/(b)" in out
