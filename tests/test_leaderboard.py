"""The cross-workload score against a hand-computed 3-optimizer x 3-workload example, and the
leaderboard written from study journals (ranks, misses, missing entries, byte-identical)."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import ROOT
from omegaconf import DictConfig, open_dict

from ganopt.app.compose import compose_config
from ganopt.errors import ConfigError
from ganopt.study.leaderboard import benchmark_score, profile, ratios
from ganopt.study.leaderboard_compare import difference, speedup
from ganopt.study.leaderboard_data import Entry
from ganopt.study.leaderboard_readme import BEGIN, END
from ganopt.study.leaderboard_report import scored_workloads, workload_studies, write_leaderboard
from ganopt.study.runner import storage
from ganopt.study.stats import median_difference_ci

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


def test_differences_carry_intervals_and_say_when_they_are_noise() -> None:
    """Medians of [1, 2, 3] and [0, 0, 0]: +2, resampled medians from 1 to 3; against
    [2, 2, 2] the interval holds 0."""
    assert median_difference_ci([1, 2, 3], [0, 0, 0]) == (2.0, 1.0, 3.0)
    assert difference(Entry(scores=[1, 2, 3]), Entry(scores=[0, 0, 0])) == "+2 [+1, +3]"
    assert difference(Entry(scores=[1, 2, 3]), Entry(scores=[2, 2, 2])) == "+0 [-1, +1] ≈"
    assert difference(Entry(scores=[1.0]), None) == "—"
    slow, fast = Entry(evaluations=[4000.0] * 3), Entry(evaluations=[2000.0, 2000.0, INF])
    assert speedup(slow, fast) == "2.00"
    assert speedup(fast, Entry(evaluations=[INF])) == "miss (tuned)"
    assert speedup(Entry(evaluations=[INF]), fast) == "miss (untuned)"


# ---- the report from journals ------------------------------------------------------------------
def finished(study: optuna.Study, seed: int, reached: float | None, value: float) -> None:
    """A phase-2 or untuned run as the runner records it."""
    trial = study.ask()
    trial.set_user_attr("slot", seed)
    trial.set_user_attr(
        "metrics",
        {
            "eval/modes": 8.0,
            "target_step": None if reached is None else reached / 2,
            "target_gradient_evaluations": reached,
            "target_wall_time_s": None if reached is None else reached / 100,
        },
    )
    study.tell(trial, value)


def workload_config(tmp: Path, name: str, journal: Path) -> DictConfig:
    cfg = compose_config([f"study={name}"], tmp / "out", name="study")
    with open_dict(cfg):
        cfg.storage = str(journal)
    return cfg


def two_workloads(tmp_path: Path) -> list[DictConfig]:
    """3 seeds. ring: adam reaches at 100 on 2 of 3 seeds (median 100), rmsprop at 300, sgd
    diverges on two and misses on one; grid: rmsprop at 50, adam misses on every seed, sgd does
    not run there."""
    journals = {"ring": tmp_path / "ring.journal", "grid": tmp_path / "grid.journal"}
    ring, grid = (storage(journals[w]) for w in ("ring", "grid"))
    make = functools.partial(optuna.create_study, direction="maximize")
    a = make(study_name="adam/phase2", storage=ring)
    for seed, t in ((1, 100.0), (2, 80.0), (3, None)):
        finished(a, seed, t, 7.5)
    b = make(study_name="rmsprop/phase2", storage=ring)
    c = make(study_name="sgd/phase2", storage=ring)
    for seed in (1, 2, 3):
        finished(b, seed, 300.0, 7.0)
    for seed in (1, 2):
        diverged = c.ask()
        diverged.set_user_attr("slot", seed)
        diverged.set_user_attr("reason", "diverged (3): loss nan")
        c.tell(diverged, state=optuna.trial.TrialState.FAIL)
    finished(c, 3, None, 6.0)
    d, e = (make(study_name=f"{o}/phase2", storage=grid) for o in ("rmsprop", "adam"))
    for seed in (1, 2, 3):
        finished(d, seed, 50.0, 24.0)
        finished(e, seed, None, 20.0)
    runs = {"ring": ["adam", "rmsprop", "sgd"], "grid": ["adam", "rmsprop"]}
    studies = [workload_config(tmp_path, w, journals[w]) for w in runs]
    for study in studies:
        with open_dict(study):
            study.study.optimizers = runs[study.study.name]
            study.study.seeds = 3
    return studies


def test_the_report_ranks_times_and_shows_misses_and_missing(tmp_path: Path) -> None:
    """B over 2 workloads: rmsprop (3, 1): (1 + 3)/6; adam (1, ∞): 3/6; sgd: missing on grid,
    no score. No untuned run: no untuned score, and both workloads say how far they are."""
    studies = two_workloads(tmp_path)
    paths = write_leaderboard(studies, tmp_path / "board", references=["adam"])
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "| rmsprop | 0.667 | 3.00 | 1.00 |" in text
    assert "| adam | 0.500 | 1.00 | miss |" in text
    assert "| sgd | — | miss | — |" in text  # never on target on ring; not run on grid
    assert "Untuned: score over 0 of 2 workloads" in text
    assert "until all its runs are in: ring (0 of 9 runs), grid (0 of 6 runs)." in text
    assert "| tuned | adam | 3 | 2 | 100 [80, ∞] | 1 | 7.5 [7.5, 7.5] | 3 |" in text
    assert "| tuned | sgd | 3 | 0 | ∞ [∞, ∞] | ∞ | 6 [6, 6] | 1 diverged, 2 diverged, 3 |" in text
    assert "| tuned | ring | rmsprop | -0.5 [-0.5, -0.5] |" in text  # against adam
    assert "| tuned | grid | rmsprop | +4 [+4, +4] |" in text
    assert {p.name for p in paths} >= {"profile_tuned.png", "heatmap_tuned.png"}
    before = {p.name: p.read_bytes() for p in paths}
    rerun = write_leaderboard(studies, tmp_path / "board", references=["adam"])
    assert {p.name: p.read_bytes() for p in rerun} == before  # byte-identical
    assert not (tmp_path / "board" / "profile_untuned.png").exists()


def test_a_workload_still_running_is_shown_but_not_scored(tmp_path: Path) -> None:
    """ring planned on 4 seeds with 3 in (an old run without its time is no run in): its
    ratios are not final, so B counts grid alone (rmsprop 1, adam 0; sgd not run there)."""
    ring, grid = two_workloads(tmp_path)
    with open_dict(ring):
        ring.study.seeds = 4
    sgd = optuna.load_study(study_name="sgd/phase2", storage=storage(ring.storage))
    old = sgd.ask()
    old.set_user_attr("slot", 4)
    old.set_user_attr("metrics", {"eval/modes": 8.0})  # run before time to target existed
    sgd.tell(old, 7.9)
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\n")
    write_leaderboard([ring, grid], tmp_path / "board", readme=readme)
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "## Tuned: score over 1 of 2 workloads" in text
    assert "until all its runs are in: ring (9 of 12 runs)." in text
    assert "| rmsprop | 1.000 | 3.00 | 1.00 |" in text  # ring's column shown as it stands
    assert "| adam | 0.000 | 1.00 | miss |" in text
    assert "| sgd | — | miss | — |" in text
    block = readme.read_text()
    assert "| rmsprop | 1.000 | — |" in block
    assert (
        "not in the score yet: ring (tuned 9 of 12, untuned 0 of 12 runs); "
        "grid (tuned 6 of 6, untuned 0 of 6 runs)." in block
    )
    assert "| adam | 100 [80, ∞] (3 of 4 seeds) | 7.5 [7.5, 7.5] | — | — |" in block


def test_readme_gets_its_block_between_the_markers_and_nothing_else(tmp_path: Path) -> None:
    """Score B per ruleset and per workload both rulesets' time and final score; text around
    the block stays as written."""
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{BEGIN}\nstale table\n{END}\n\nAfter.\n")
    write_leaderboard(two_workloads(tmp_path), tmp_path / "board", readme=readme)
    text = readme.read_text()
    assert text.startswith(f"# Title\n\n{BEGIN}\n| optimizer | score B, tuned (2 workloads) |")
    assert text.endswith(f"{END}\n\nAfter.\n") and "stale table" not in text
    assert "| rmsprop | 0.667 | — |" in text  # no untuned run anywhere: no untuned score
    assert "| adam | 100 [80, ∞] | 7.5 [7.5, 7.5] | — | — |" in text
    again = readme.read_text()
    write_leaderboard(two_workloads(tmp_path / "again"), tmp_path / "board", readme=readme)
    assert readme.read_text() == again  # byte-identical


def test_a_readme_without_the_markers_is_named_and_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    with pytest.raises(ConfigError, match=rf"readme={readme} has no leaderboard block"):
        write_leaderboard(two_workloads(tmp_path), tmp_path / "board", readme=readme)
    assert readme.read_text() == "# Title\n"


def test_a_budget_cut_is_counted_as_configured_and_stated(tmp_path: Path) -> None:
    """Seeds cut to 2 (adam's unreached seed 3 no longer counts), rmsprop untuned only on ring
    (its phase-2 run leaves the tuned table), and grid shown but not scored: B over ring alone,
    adam 1.0 and sgd (a miss) 0."""
    ring, grid = two_workloads(tmp_path)
    with open_dict(ring):
        ring.study.seeds = 2
        ring.study.untuned_only = ["rmsprop"]
    write_leaderboard([ring, grid], tmp_path / "board", scored=["ring"])
    text = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "## Tuned: score over 1 of 1 workloads" in text
    assert "Not in the score (its column is shown): grid." in text
    assert "| adam | 1.000 | 1.00 | miss |" in text
    assert "| sgd | 0.000 | miss | — |" in text
    assert "| rmsprop | — | — | 1.00 |" in text  # grid only: no score
    assert "| tuned | adam | 2 | 2 | 90 [80, 100] |" in text
    assert "| tuned | rmsprop |" not in text.split("## grid")[0]


def test_scored_workloads_must_be_shown_ones(tmp_path: Path) -> None:
    cfg = compose_config(["scored=[ring,mnist]"], tmp_path, name="leaderboard")
    with pytest.raises(ConfigError, match=r"scored names mnist, which workloads does not list"):
        scored_workloads(cfg)
    assert scored_workloads(compose_config(["scored=null"], tmp_path, name="leaderboard")) == [
        "ring",
        "grid",
        "digits",
        "stacked_digits",
    ]


def test_the_committed_leaderboard_regenerates_byte_identically(tmp_path: Path) -> None:
    """README's command, as written, into a temporary directory (README's block into a copy of
    it); the journals are only read."""
    board = ROOT / "docs" / "benchmark"
    readme = tmp_path / "readme" / "README.md"
    readme.parent.mkdir()
    readme.write_text((ROOT / "README.md").read_text())
    journals = {p: p.read_bytes() for p in (ROOT / "docs" / "studies").glob("*/trials.journal")}
    done = subprocess.run(
        [
            sys.executable,
            "scripts/leaderboard.py",
            f"out_dir={tmp_path}",
            f"readme={readme}",
            f"hydra.run.dir={tmp_path / 'hydra'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert written == sorted(p.name for p in board.iterdir())
    for name in written:
        assert (tmp_path / name).read_bytes() == (board / name).read_bytes(), name
    assert readme.read_text() == (ROOT / "README.md").read_text()
    assert {p: p.read_bytes() for p in journals} == journals


def test_a_workload_that_is_no_study_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"workloads names rnig, .*did you mean ring\?"):
        workload_studies(["ring", "rnig"], tmp_path)
