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
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from ganopt.app.cli import nearest
from ganopt.app.compose import app_searchpath, compose_config, group_options, searchpath_override
from ganopt.errors import ConfigError
from ganopt.study.leaderboard import R_MAX, benchmark_score, profile, ratios
from ganopt.study.leaderboard_compare import reference_lines, tuning_lines
from ganopt.study.leaderboard_data import RULESETS, Entry, Workload, collect
from ganopt.study.leaderboard_readme import (
    by_score,
    median_time,
    median_with_ci,
    readme_lines,
    rounded,
    split_readme,
    write_readme,
)
from ganopt.study.stats import median_ci

TAUS = np.exp(np.linspace(0.0, math.log(R_MAX), 200))


def standings(
    workloads: list[Workload], ruleset: str, scored: list[str]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, float | None], int]:
    """Ratios (optimizer -> workload -> r) on every workload, the same on the scored workloads
    whose runs are all in under this ruleset, the score B per optimizer over those (None where
    one is missing) and their number. A workload still running is shown, never scored."""
    times: dict[str, dict[str, float]] = {}
    for w in workloads:
        for optimizer, time in w.timed(ruleset).items():
            times.setdefault(optimizer, {})[w.name] = time
    counting = {w.name for w in workloads if w.name in scored and w.complete(ruleset)}
    r = ratios(times)
    in_score = {o: {w: v for w, v in by_w.items() if w in counting} for o, by_w in r.items()}
    counted = len(counting)
    score = {o: benchmark_score(by_w, counted) for o, by_w in in_score.items()}
    in_score = {o: by_w for o, by_w in in_score.items() if by_w}  # none scored: no profile
    return r, in_score, score, counted


def running_lines(workloads: list[Workload], ruleset: str, scored: list[str]) -> list[str]:
    """The scored workloads left out of this ruleset's score until their runs are all in."""
    running = [
        f"{w.name} ({w.progress(ruleset)} runs)"
        for w in workloads
        if w.name in scored and not w.complete(ruleset)
    ]
    if not running:
        return []
    return [f"Not in the score until all its runs are in: {', '.join(running)}.", ""]


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if math.isfinite(value) else "miss"


def ranked(score: dict[str, float | None]) -> list[str]:
    """Best score first; optimizers missing a workload (no score) last, by name."""
    return sorted(score, key=lambda o: (*by_score(score[o]), o))


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
    studies: list[DictConfig],
    out: Path,
    scored: list[str] | None = None,
    references: list[str] | None = None,
    readme: Path | None = None,
) -> list[Path]:
    """The leaderboard of ``studies``; score B and the profile count the ``scored`` workloads
    (all of them when None), the tables and the heat map show every one; then what tuning buys
    and every optimizer against the ``references``; and README's block of it, when given."""
    if readme is not None:
        split_readme(readme)  # its markers are there before anything is written
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
    files, rows, scores, counts = [], [], {}, {}
    for ruleset in RULESETS:
        r, in_score, score, counted = standings(workloads, ruleset, scored)
        scores[ruleset], counts[ruleset] = score, counted
        lines += [
            "",
            f"## {ruleset.capitalize()}: score over {counted} of {len(scored)} workloads",
            "",
            *(
                [f"Not in the score (its column is shown): {', '.join(unscored)}.", ""]
                if unscored
                else []
            ),
            *running_lines(workloads, ruleset, scored),
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
            "| wall s to target, median | final score, median [95% CI] | seeds off target |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for ruleset in RULESETS:
            by_time = sorted(w.entries[ruleset].items(), key=lambda kv: (median_time(kv[1]), kv[0]))
            for optimizer, e in by_time:
                row = entry_row(ruleset, w.name, optimizer, e)
                rows.append(row)
                lines.append("| " + " | ".join(str(row[k]) for k in TABLE) + " |")
    lines += tuning_lines(workloads)
    if references:
        lines += reference_lines(workloads, references)
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")
    with (out / "leaderboard.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["workload", *TABLE])
        writer.writeheader()
        writer.writerows(rows)
    if readme is not None:
        files.append(write_readme(readme, readme_lines(workloads, scores, counts, scored)))
    return [out / "leaderboard.md", out / "leaderboard.csv", *files]


TABLE = [
    "ruleset",
    "optimizer",
    "seeds",
    "reached",
    "grad evals",
    "wall s",
    "final score",
    "seeds off target",
]


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
            "seeds off target": "—",
        }
    low, high = median_ci(e.evaluations)
    return {
        "workload": workload,
        "ruleset": ruleset,
        "optimizer": optimizer,
        "seeds": str(len(e.evaluations)),
        "reached": str(e.reached),
        "grad evals": f"{rounded(e.time)} [{rounded(low)}, {rounded(high)}]",
        "wall s": rounded(float(np.median(e.wall_s))),
        "final score": median_with_ci(e.scores) if e.scores else "—",
        "seeds off target": ", ".join(e.missed) or "none",
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
