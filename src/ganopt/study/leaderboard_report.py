"""The benchmark's leaderboard from the committed study journals: per ruleset (tuned: phase 2;
untuned: the presets as shipped) and workload, each optimizer's median time to target over
seeds and its ratio to the fastest, the performance profile, the score B
(``ganopt.study.leaderboard``), final quality, and a heat map optimizer x workload; written as
leaderboard.md, leaderboard.csv and PNGs.

Time is counted in gradient evaluations, so extragradient pays for its second gradient (wall
time is shown beside it; it depends on the machine). A seed that diverged or never met the
target is infinitely slow; the median over seeds is the optimizer's time. An optimizer that did
not run a workload, or whose runs there predate time recording (``untimed``), is missing there:
never a zero or a win.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
from omegaconf import DictConfig

from ganopt.app.cli import nearest
from ganopt.app.compose import app_searchpath, compose_config, group_options, searchpath_override
from ganopt.errors import ConfigError
from ganopt.study.leaderboard import R_MAX, benchmark_score, profile, ratios
from ganopt.study.runner import optimizers, results, storage, untimed

State = optuna.trial.TrialState
RULESETS: dict[str, int | str] = {"tuned": 2, "untuned": "untuned"}  # ruleset -> its phase
TAUS = np.exp(np.linspace(0.0, math.log(R_MAX), 200))


@dataclass
class Entry:
    """One optimizer on one workload under one ruleset: one value per seed."""

    evaluations: list[float] = field(default_factory=list)  # to target; inf: missed or diverged
    wall_s: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # the objective, seeds that finished
    untimed: int = 0  # finished before time to target was recorded

    @property
    def time(self) -> float:
        return float(np.median(self.evaluations))

    @property
    def reached(self) -> int:
        return sum(math.isfinite(e) for e in self.evaluations)


@dataclass
class Workload:
    name: str
    target: str
    entries: dict[str, dict[str, Entry]]  # ruleset -> optimizer -> entry

    def timed(self, ruleset: str) -> dict[str, float]:
        return {o: e.time for o, e in self.entries[ruleset].items() if e.evaluations}


def collect(study: DictConfig) -> Workload:
    """A workload's results from its study's storage, read only: no study is created there."""
    target = ", ".join(f"{metric} {rule}" for metric, rule in study.study.target.items())
    workload = Workload(study.study.name, target, {ruleset: {} for ruleset in RULESETS})
    if "://" not in str(study.storage) and not Path(study.storage).exists():
        return workload
    store = storage(study.storage)
    for ruleset, phase in RULESETS.items():
        for optimizer in optimizers(study.study, phase):
            if trials := results(store, study.study, optimizer, phase):
                entry = Entry()
                for trial in trials:
                    add(entry, trial)
                workload.entries[ruleset][optimizer] = entry
    return workload


def add(entry: Entry, trial: optuna.trial.FrozenTrial) -> None:
    """One seed: its time to target, or inf when it diverged or never met the target."""
    if trial.state == State.COMPLETE and untimed(trial):
        entry.untimed += 1
    elif trial.state == State.COMPLETE:
        assert trial.value is not None
        metrics = trial.user_attrs["metrics"]
        entry.scores.append(trial.value)
        reached = metrics["target_gradient_evaluations"] is not None
        entry.evaluations.append(metrics["target_gradient_evaluations"] if reached else math.inf)
        entry.wall_s.append(metrics["target_wall_time_s"] if reached else math.inf)
    elif trial.state == State.FAIL:  # diverged: a result, never on target
        entry.evaluations.append(math.inf)
        entry.wall_s.append(math.inf)


def median_ci(values: list[float], resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """A percentile-bootstrap 95 % interval of the median over seeds (inf-safe: resampled
    medians are sorted and picked, never interpolated)."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.sort(np.median(data[rng.integers(0, len(data), (resamples, len(data)))], axis=1))
    return float(medians[int(0.025 * resamples)]), float(medians[int(0.975 * resamples) - 1])


def standings(
    workloads: list[Workload], ruleset: str, scored: list[str]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, float | None], int]:
    """Ratios (optimizer -> workload -> r) on every workload, the same on the scored workloads
    only, the score B per optimizer over those (None where one is missing) and the number of
    scored workloads with results under this ruleset."""
    times: dict[str, dict[str, float]] = {}
    for w in workloads:
        for optimizer, time in w.timed(ruleset).items():
            times.setdefault(optimizer, {})[w.name] = time
    counted = sum(bool(w.timed(ruleset)) for w in workloads if w.name in scored)
    r = ratios(times)
    in_score = {o: {w: v for w, v in by_w.items() if w in scored} for o, by_w in r.items()}
    score = {o: benchmark_score(by_w, counted) for o, by_w in in_score.items()}
    in_score = {o: by_w for o, by_w in in_score.items() if by_w}  # none scored: no profile
    return r, in_score, score, counted


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if math.isfinite(value) else "miss"


def _number(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "∞"


def ranked(score: dict[str, float | None]) -> list[str]:
    """Best score first; optimizers missing a workload (no score) last, by name."""
    return sorted(score, key=lambda o: (score[o] is None, -(score[o] or 0.0), o))


def workload_studies(names: list[str], out: Path) -> list[DictConfig]:
    """Each workload's study config, composed on the app's search path (a forker's studies
    too); a name that is no study config is a ConfigError."""
    extra = searchpath_override(app_searchpath())  # before composing: it changes the app's
    known = group_options("study", extra)
    for name in names:
        if name not in known:
            raise ConfigError(
                f"workloads names {name}, which is no study config{nearest(name, known)}; the "
                f"study configs (conf/study and the search path) are {', '.join(known)}."
            )
    return [compose_config([f"study={name}", *extra], out, name="study") for name in names]


def scored_workloads(cfg: DictConfig) -> list[str]:
    """``scored``: the workloads score B counts, some of ``workloads`` (all when null)."""
    if cfg.scored is None:
        return list(cfg.workloads)
    if stray := [name for name in cfg.scored if name not in cfg.workloads]:
        raise ConfigError(
            f"scored names {', '.join(stray)}, which workloads does not list "
            f"({', '.join(cfg.workloads)}): score B counts some of the workloads shown."
        )
    return list(cfg.scored)


def write_leaderboard(
    studies: list[DictConfig], out: Path, scored: list[str] | None = None
) -> list[Path]:
    """The leaderboard of ``studies``; score B and the profile count the ``scored`` workloads
    (all of them when None), the tables and the heat map show every one."""
    out.mkdir(parents=True, exist_ok=True)
    workloads = [collect(study) for study in studies]
    names = [w.name for w in workloads]
    scored = names if scored is None else scored
    unscored = [name for name in names if name not in scored]
    lines = [
        "# The ganopt benchmark: time to target across workloads",
        "",
        "Regenerated from the committed journals by `python scripts/leaderboard.py`. Score "
        f"B = 1/(r_max − 1) ∫₁^r_max ρ(τ) dτ, r_max = {R_MAX:g} (AlgoPerf, Dahl et al. 2023): "
        "ρ(τ) is the fraction of workloads on which the optimizer's median time to target "
        "(gradient evaluations, over seeds) is within τ of the fastest optimizer's. Cells: that "
        "ratio; miss: the median seed never met the target; —: not run (or only before time to "
        "target was recorded).",
        "",
        "Targets: " + "; ".join(f"{w.name} {w.target}" for w in workloads) + ".",
    ]
    files, rows = [], []
    for ruleset in RULESETS:
        r, in_score, score, counted = standings(workloads, ruleset, scored)
        lines += [
            "",
            f"## {ruleset.capitalize()}: score over {counted} of {len(scored)} workloads",
            "",
            *(
                [f"Not in the score (its column is shown): {', '.join(unscored)}.", ""]
                if unscored
                else []
            ),
            "| optimizer | B | " + " | ".join(names) + " |",
            "| --- | --- | " + " | ".join("---" for _ in names) + " |",
        ]
        for optimizer in ranked(score):
            b = score[optimizer]
            cells = [_ratio(r[optimizer].get(name)) for name in names]
            lines.append(
                f"| {optimizer} | {'—' if b is None else f'{b:.3f}'} | " + " | ".join(cells) + " |"
            )
        if in_score:
            files.append(plot_profile(in_score, counted, out / f"profile_{ruleset}.png", ruleset))
        if r:
            files.append(
                plot_heatmap(r, ranked(score), names, out / f"heatmap_{ruleset}.png", ruleset)
            )
    for w in workloads:
        lines += [
            "",
            f"## {w.name} (target {w.target})",
            "",
            "| ruleset | optimizer | seeds | reached | grad evals to target, median [95% CI] "
            "| wall s to target, median | final score, median |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for ruleset in RULESETS:
            by_time = sorted(w.entries[ruleset].items(), key=lambda kv: (_time(kv[1]), kv[0]))
            for optimizer, e in by_time:
                row = entry_row(ruleset, w.name, optimizer, e)
                rows.append(row)
                lines.append("| " + " | ".join(str(row[k]) for k in TABLE) + " |")
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")
    with (out / "leaderboard.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["workload", *TABLE])
        writer.writeheader()
        writer.writerows(rows)
    return [out / "leaderboard.md", out / "leaderboard.csv", *files]


TABLE = ["ruleset", "optimizer", "seeds", "reached", "grad evals", "wall s", "final score"]


def _time(entry: Entry) -> float:
    return entry.time if entry.evaluations else math.inf


def entry_row(ruleset: str, workload: str, optimizer: str, e: Entry) -> dict[str, str]:
    if not e.evaluations:
        return {
            "workload": workload,
            "ruleset": ruleset,
            "optimizer": optimizer,
            "seeds": "0",
            "reached": "0",
            "grad evals": (
                f"— ({e.untimed} seeds run before time was recorded)"
                if e.untimed
                else "— (no seed finished yet)"
            ),
            "wall s": "—",
            "final score": "—",
        }
    low, high = median_ci(e.evaluations)
    return {
        "workload": workload,
        "ruleset": ruleset,
        "optimizer": optimizer,
        "seeds": str(len(e.evaluations)),
        "reached": str(e.reached),
        "grad evals": f"{_number(e.time)} [{_number(low)}, {_number(high)}]",
        "wall s": _number(float(np.median(e.wall_s))),
        "final score": f"{np.median(e.scores):.4g}" if e.scores else "—",
    }


def plot_profile(r: dict[str, dict[str, float]], counted: int, path: Path, ruleset: str) -> Path:
    """ρ_s(τ) for τ in [1, r_max], log x; an optimizer missing a workload is dashed and its
    profile is over the workloads it ran (its label says how many)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.2), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for optimizer, by_w in sorted(r.items()):
        complete = len(by_w) == counted
        rho = [profile(by_w, len(by_w), tau) for tau in TAUS]
        label = optimizer if complete else f"{optimizer} ({len(by_w)} of {counted})"
        ax.step(TAUS, rho, where="post", label=label, linestyle="-" if complete else "--")
    ax.set_xscale("log")
    ax.set(
        xlabel="τ (time to target / fastest)",
        ylabel="ρ(τ): fraction of workloads",
        title=f"performance profile, {ruleset}",
        ylim=(-0.02, 1.02),
    )
    ax.legend(fontsize="small")
    figure.savefig(path)
    return path


def plot_heatmap(
    r: dict[str, dict[str, float]], order: list[str], names: list[str], path: Path, ruleset: str
) -> Path:
    """log2 of each ratio; misses at the top of the scale, missing cells blank with a dash."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.full((len(order), len(names)), np.nan)
    for i, optimizer in enumerate(order):
        for j, name in enumerate(names):
            if name in r[optimizer]:
                values[i, j] = min(math.log2(r[optimizer][name]), math.log2(R_MAX))
    figure = Figure(
        figsize=(1.2 * len(names) + 2.5, 0.35 * len(order) + 1.5), dpi=80, layout="constrained"
    )
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(values), cmap="viridis_r", vmin=0, vmax=math.log2(R_MAX), aspect="auto"
    )
    for i, optimizer in enumerate(order):
        for j, name in enumerate(names):
            ax.text(
                j,
                i,
                _ratio(r[optimizer].get(name)),
                ha="center",
                va="center",
                fontsize="small",
                color="white" if values[i, j] < 1 else "black",
            )
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(order)), order)
    ax.set_title(f"time to target / fastest, {ruleset}")
    figure.colorbar(image, ax=ax, label="log2 ratio (capped at r_max)")
    figure.savefig(path)
    return path
