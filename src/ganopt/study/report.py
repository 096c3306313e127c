"""The study's report from its trial storage: table.md, table.csv, budget and sensitivity plots.

Per optimizer: the best phase-1 configuration, the phase-2 scores over seeds (mean, median,
bootstrap 95 % CI), the success rate, wall time and gradient evaluations per run, and phase 1's
trial counts; the expected best score after k trials (Dodge et al. 2019) from phase 1; the
score against each network's learning rate; and the probability that the best optimizer beats
the second over seeds.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from omegaconf import DictConfig

from ganopt.study.runner import PHASES, optimizers, results, storage, trial_score
from ganopt.study.stats import (
    bootstrap_ci,
    busy_seconds,
    efficiency,
    expected_max,
    probability_of_improvement,
)
from ganopt.targets import holds

State = optuna.trial.TrialState


@dataclass
class OptimizerResult:
    optimizer: str
    search: list[optuna.trial.FrozenTrial]
    final: list[optuna.trial.FrozenTrial]
    untuned: list[optuna.trial.FrozenTrial] = field(default_factory=list)  # counted in the budget
    scores: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.scores = [trial_score(t) for t in self.final if t.state == State.COMPLETE]

    @property
    def best(self) -> optuna.trial.FrozenTrial | None:
        done = [t for t in self.search if t.state == State.COMPLETE]
        return max(done, key=trial_score) if done else None

    def count(self, state: State) -> int:
        return sum(t.state == state for t in self.search)


def collect(cfg: DictConfig) -> list[OptimizerResult]:
    store = storage(cfg.storage)
    return [
        OptimizerResult(optimizer, *(results(store, cfg.study, optimizer, p) for p in PHASES))
        for optimizer in cfg.study.optimizers
    ]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def rows(cfg: DictConfig, results: list[OptimizerResult]) -> list[dict[str, Any]]:
    success = dict(cfg.study.get("target") or {})
    finished = {r.optimizer: [t for t in r.final if t.state == State.COMPLETE] for r in results}
    # Every row has the same columns, also an optimizer with no finished run yet.
    metric_names = dict.fromkeys(
        key
        for finals in finished.values()
        for t in finals
        for key in t.user_attrs["metrics"]
        if key.startswith("eval/")  # time to target is the leaderboard's
    )
    out = []
    for r in results:
        untuned_or_none = "-" if r.optimizer in optimizers(cfg.study, 1) else "untuned only"
        low, high = bootstrap_ci(r.scores) if r.scores else (math.nan, math.nan)
        finals = finished[r.optimizer]
        metrics = {
            key: _mean(
                [t.user_attrs["metrics"][key] for t in finals if key in t.user_attrs["metrics"]]
            )
            for key in metric_names
        }
        passed = [
            all(holds(t.user_attrs["metrics"].get(k), rule) for k, rule in success.items())
            for t in finals
        ]
        out.append(
            {
                "optimizer": r.optimizer,
                "best configuration": (
                    " ".join(r.best.user_attrs["settings"]) if r.best else untuned_or_none
                ),
                "phase-2 seeds": len(r.scores),
                "score mean": _mean(r.scores),
                "score median": float(np.median(r.scores)) if r.scores else math.nan,
                "score 95% CI low": low,
                "score 95% CI high": high,
                **{f"{k} mean": v for k, v in metrics.items()},
                "success rate": _mean([float(p) for p in passed]) if success else math.nan,
                "wall s per run": _mean(
                    [t.user_attrs.get("wall_time_s", math.nan) for t in finals]
                ),
                "grad evals per run": _mean(
                    [t.user_attrs.get("gradient_evaluations", math.nan) for t in finals]
                ),
                "phase-1 trials (done/pruned/failed)": (
                    f"{r.count(State.COMPLETE)}/{r.count(State.PRUNED)}/{r.count(State.FAIL)}"
                ),
                "phase-1 grad evals": sum(
                    t.user_attrs.get("gradient_evaluations", 0) for t in r.search
                ),
            }
        )
    return sorted(out, key=lambda row: -row["score mean"] if row["phase-2 seeds"] else math.inf)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_report(cfg: DictConfig, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    results = collect(cfg)
    table = rows(cfg, results)
    with (out / "table.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows({k: _fmt(v) for k, v in row.items()} for row in table)
    objective = " + ".join(f"{w:g}·{k}" for k, w in cfg.study.objective.items())
    lines = [
        f"# Study `{cfg.study.name}`: score = {objective} (higher is better)",
        "",
        f"Phase 1: {cfg.study.trials} trials per optimizer (seed 0); phase 2: the best "
        f"configuration on seeds 1..{cfg.study.seeds}; ranked by the phase-2 mean."
        + untuned_only_note(cfg.study),
        "",
        "| " + " | ".join(table[0]) + " |",
        "| " + " | ".join("---" for _ in table[0]) + " |",
        *("| " + " | ".join(_fmt(v) for v in row.values()) + " |" for row in table),
        "",
    ]
    ranked = [r for r in sorted(results, key=lambda r: -_mean(r.scores)) if r.scores]
    if len(ranked) >= 2:
        a, b = ranked[0], ranked[1]
        p = probability_of_improvement(a.scores, b.scores)
        lines.append(
            f"P({a.optimizer} > {b.optimizer}) over phase-2 seed pairs: {p:.2f} "
            f"({len(a.scores)} x {len(b.scores)} pairs, ties count 1/2)."
        )
    lines.append(budget_line(cfg, results))
    (out / "table.md").write_text("\n".join(lines) + "\n")
    tuned = [r for r in results if r.optimizer in optimizers(cfg.study, 1)]
    return [out / "table.md", out / "table.csv", *write_plots(tuned, out)]


def untuned_only_note(study: DictConfig) -> str:
    """The budget cut, stated where the results are: which optimizers have no search here."""
    if cut := list(study.get("untuned_only") or []):
        return f" Run untuned only (a budget cut, no search or phase 2): {', '.join(cut)}."
    return ""


def budget_line(cfg: DictConfig, results: list[OptimizerResult]) -> str:
    """The study's cost, every phase counted (the search, the seeds, the untuned runs): trials,
    gradient evaluations, the time some trial was running (the union of their intervals), and
    its efficiency against the hand-written loop's rate, from the trials' own times (not the
    reporting command's ``workers``)."""
    trials = [t for r in results for t in (*r.search, *r.final, *r.untuned)]
    evaluations = sum(t.user_attrs.get("gradient_evaluations", 0) for t in trials)
    spans = [
        (t.datetime_start.timestamp(), t.datetime_complete.timestamp())
        for t in trials
        if t.datetime_start is not None and t.datetime_complete is not None
    ]
    busy, trial_seconds = busy_seconds(spans), sum(end - start for start, end in spans)
    line = (
        f"Budget: {len(trials)} runs, {evaluations:,} gradient evaluations, {busy / 60:.1f} min "
        f"while some trial was running"
    )
    rate = cfg.study.get("hand_loop_steps_per_s")
    if rate is None or busy == 0:
        return line + " (efficiency: set study.hand_loop_steps_per_s, see docs/studies.md)."
    value = efficiency(evaluations, rate, trial_seconds)
    return line + (
        f"; efficiency {value:.2f} (at the hand-written loop's {rate:g} steps/s; "
        f"{trial_seconds / busy:.1f} trials at a time on average)."
    )


def write_plots(results: list[OptimizerResult], out: Path) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    figure = Figure(figsize=(6.5, 4.2), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for r in results:
        values = [trial_score(t) for t in r.search if t.state == State.COMPLETE]
        if values:
            ks = np.arange(1, len(r.search) + 1)
            ax.plot(ks, [expected_max(values, int(k)) for k in ks], marker="o", label=r.optimizer)
    ax.set(
        xlabel="phase-1 trials (budget)",
        ylabel="expected best score",
        title="expected best score after k trials",
    )
    if ax.get_legend_handles_labels()[0]:  # none when no trial of any optimizer finished
        ax.legend(fontsize="small")
    figure.savefig(out / "expected_best.png")

    columns = min(len(results), 5)
    rows = -(-len(results) // columns)
    figure = Figure(figsize=(3.0 * columns, 2.6 * rows), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False, sharey=True).flat
    for r, ax in zip(results, axes, strict=False):  # results first: zip then leaves the rest
        done = [t for t in r.search if t.state == State.COMPLETE]
        name = "step size"
        for network, marker in (("generator", "o"), ("discriminator", "x")):
            # the network's first searched step size: lr, Muon's rate, Prodigy's d_coef
            key = next((k for t in done for k in t.params if k.endswith(f"_{network}")), None)
            if key is not None:
                values = [t.params[key] for t in done]
                ax.scatter(values, [t.value for t in done], s=14, marker=marker, label=network)
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap
                name = key.removesuffix(f"_{network}")
        ax.set_title(f"{r.optimizer}: {name}", fontsize="small")
    for ax in axes:  # the grid's unused cells
        ax.set_visible(False)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside upper right", fontsize="small")
    figure.supylabel("score")
    figure.savefig(out / "lr_sensitivity.png")
    return [out / "expected_best.png", out / "lr_sensitivity.png"]
