"""Compare finished runs: one row per configuration (mean ± std over seeds) and mean curves.

The question ganopt answers is "which optimizer trains a GAN well?", and one seed of a GAN says
little, so runs that differ only in ``seed`` are pooled into one configuration. The functions
here are importable (a notebook rebuilds the same table); ``scripts/compare.py`` is only the CLI.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

Curve = tuple[np.ndarray, np.ndarray]  # generator steps, values

OPTIMIZER_KEYS = ("optimizer", "optimizer.generator", "optimizer.discriminator")
LOSSES = ("loss/d", "loss/g")
WALL_TIME = "wall_time_s"
SORT_BY = ("eval/modes", "eval/reverse_kl", "eval/fid", "eval/fcd", "eval/kid", "eval/hq_fraction")
# Settings of .hydra/config.yaml that do not change what a run computes (where it writes, how
# often it checkpoints, on which device): never a reason to split a configuration.
IGNORED_SETTINGS = (
    "seed",
    "paths",
    "ckpt_path",
    "task_name",
    "tags",
    "logger",
    "hydra",
    "log_every_n_steps",
    "optimized_metric",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.default_root_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.enable_checkpointing",
    "trainer.log_every_n_steps",
    "callbacks.checkpoint",
    "callbacks.samples",
    "callbacks.progress",
    "callbacks.throughput",
    "data.num_workers",
    "data.pin_memory",
)


class CompareError(ValueError):
    """The paths hold nothing to compare: the CLI prints the message and exits 2, no traceback."""


@dataclass(frozen=True)
class Metric:
    """How one final metric is shown: column header, direction, number format, display scale."""

    key: str
    header: str
    higher_is_better: bool | None = None  # None: not a sort criterion
    fmt: str = ".3g"
    scale: float = 1.0
    title: str = ""


METRICS = {
    m.key: m
    for m in (
        Metric("eval/modes", "modes", True, ".1f", title="modes covered (higher is better)"),
        Metric(
            "eval/hq_fraction",
            "HQ %",
            True,
            ".1f",
            100.0,
            "high-quality samples, % (higher is better)",
        ),
        Metric(
            "eval/reverse_kl",
            "reverse KL",
            False,
            ".3f",
            title="reverse KL of modes (lower is better)",
        ),
        Metric("eval/fid", "FID", False, ".2f", title="Inception FID (lower is better)"),
        Metric("eval/kid", "KID", False, ".4f", title="Inception KID (lower is better)"),
        Metric(
            "eval/fcd", "FCD", False, ".2f", title="Fréchet classifier distance (lower is better)"
        ),
        Metric("loss/d", "loss/d (final)", None, ".3f", title="discriminator loss"),
        Metric("loss/g", "loss/g (final)", None, ".3f", title="generator loss"),
    )
}


@dataclass
class Run:
    """One run directory: its config summary, final metrics (None: no metrics.json) and curves."""

    path: Path
    name: str
    config: dict[str, Any]
    metrics: dict[str, float] | None
    overrides: list[str] = field(default_factory=list)
    problem: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # flattened .hydra/config.yaml
    curve_problem: str | None = None
    _curves: dict[str, Curve] | None = field(default=None, repr=False)

    @property
    def seed(self) -> Any:
        return self.config.get("seed", self.settings.get("seed"))

    def value(self, key: str) -> Any:
        """A grouping key's value: the metrics.json summary first, then the full Hydra config."""
        return self.config[key] if key in self.config else self.settings.get(key)

    def curves(self) -> dict[str, Curve]:
        """Scalar curves, read once; a broken event file costs the plot, not the whole table."""
        if self._curves is None:
            try:
                self._curves = read_scalars(self.path)
            except Exception as error:  # any reader failure: report it, keep the table
                self._curves, self.curve_problem = {}, f"{type(error).__name__}: {error}"
        return self._curves


@dataclass
class Configuration:
    """Runs that differ only by seed: one table row, one line per plot."""

    values: dict[str, Any]
    runs: list[Run]
    label: str = ""

    @property
    def seeds(self) -> list[Any]:
        return [run.seed for run in self.runs]

    def stats(self, key: str) -> tuple[float, float, int]:
        """Mean, sample std (n - 1; nan below two values) and count of a final metric."""
        values = np.array([r.metrics[key] for r in self.runs if r.metrics and key in r.metrics])
        if values.size == 0:
            return math.nan, math.nan, 0
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            std = float(np.std(values, ddof=1)) if values.size > 1 else math.nan
            return float(np.mean(values)), std, int(values.size)

    def curve(self, tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int] | None:
        """Steps, mean, min and max over seeds of a scalar (each step: the seeds that logged it)."""
        per_run = [c for r in self.runs if (c := r.curves().get(tag)) is not None and c[0].size]
        if not per_run:
            return None
        steps = np.unique(np.concatenate([s for s, _ in per_run]))
        grid = np.full((len(per_run), steps.size), np.nan)
        for row, (s, v) in enumerate(per_run):
            grid[row, np.searchsorted(steps, s)] = v
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = (np.nanmean(grid, 0), np.nanmin(grid, 0), np.nanmax(grid, 0))
        return steps, mean, low, high, len(per_run)


@dataclass
class Comparison:
    """Everything compare.py reports: the runs read, the rows, and what is missing."""

    roots: list[Path]
    runs: list[Run]
    configurations: list[Configuration]
    keys: list[str]
    hidden_keys: list[str] = field(default_factory=list)  # split on, though not in the summary

    @property
    def failed(self) -> list[Run]:
        return [run for run in self.runs if run.metrics is None]

    def metrics(self) -> list[Metric]:
        """Table columns: the eval metrics present (known ones first), then the final losses."""
        present = set().union(*(r.metrics for c in self.configurations for r in c.runs))
        known = [m for k, m in METRICS.items() if k in present and k.startswith("eval/")]
        other = [
            Metric(k, k) for k in sorted(present) if k.startswith("eval/") and k not in METRICS
        ]
        return [*known, *other, *(METRICS[k] for k in LOSSES if k in present)]

    def fixed(self) -> dict[str, Any]:
        """Grouping keys with one value in every row: said once above the table, not per row."""
        rows = [c.values for c in self.configurations]
        return {k: rows[0][k] for k in self.keys if len({_hashable(r[k]) for r in rows}) == 1}

    def seed_notes(self) -> list[str]:
        """Rows resting on fewer seeds than the others, or on repeated seeds."""
        notes: list[str] = []
        counts = [len(c.runs) for c in self.configurations]
        every = sorted({_hashable(s) for c in self.configurations for s in c.seeds}, key=_natural)
        most = max(counts)
        for c in self.configurations:
            own = [_hashable(s) for s in c.seeds]
            if len(own) < most:
                lacking = [s for s in every if s not in own]
                text = f"`{c.label}` has {_count(len(own), 'seed')} ({_seeds(c.seeds)}) "
                text += f"where others have {most}"
                notes.append(text + (f"; missing seed {_seeds(lacking)}" if lacking else ""))
            repeated = sorted({s for s in own if own.count(s) > 1}, key=_natural)
            if repeated:
                notes.append(
                    f"`{c.label}` has several runs with seed {_seeds(repeated)}: they are pooled "
                    "as if they were different seeds"
                )
        if (
            len(set(counts)) == 1
            and len({tuple(sorted(map(str, c.seeds))) for c in self.configurations}) > 1
        ):
            notes.append(
                "configurations use different seed sets: "
                + "; ".join(f"`{c.label}`: {_seeds(c.seeds)}" for c in self.configurations)
            )
        return notes

    def other_notes(self) -> list[str]:
        """Runs that stopped early or whose curves could not be read."""
        notes = []
        for c in self.configurations:
            for run in c.runs:
                done, planned = run.metrics.get("generator_steps"), run.config.get("steps")
                if isinstance(planned, int | float) and done is not None and done < planned:
                    notes.append(
                        f"`{run.name}` stopped at generator step {done:g} of {planned:g} "
                        "(its final metrics are from there)"
                    )
                if run.curve_problem:
                    notes.append(
                        f"`{run.name}`: TensorBoard events unreadable ({run.curve_problem})"
                    )
        return notes

    def warnings(self) -> list[str]:
        """Everything the reader must not miss, one line each (stderr and table.md)."""
        failed = [f"`{run.name}`: {_failure(run)}" for run in self.failed]
        return [*failed, *self.seed_notes(), *self.other_notes()]


# -- finding and loading runs -------------------------------------------------------------------


def is_run_dir(path: Path) -> bool:
    """A run directory holds metrics.json (finished) or .hydra/config.yaml (started)."""
    return (path / "metrics.json").is_file() or (path / ".hydra" / "config.yaml").is_file()


def find_runs(paths: Iterable[Path]) -> list[Path]:
    """Every run directory at or below the paths, in natural order (2_… before 10_…)."""
    found: dict[Path, Path] = {}
    for root in paths:
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if is_run_dir(here):
                found.setdefault(here.resolve(), here)
                dirnames.clear()  # checkpoints/, samples/, tensorboard/ hold no runs
                continue
            dirnames[:] = sorted((d for d in dirnames if not d.startswith(".")), key=_natural)
    return list(found.values())


def load_run(path: Path, root: Path | None = None) -> Run:
    """Read a run directory; a missing or broken metrics.json gives a Run with metrics=None."""
    name = path.name if root is None or path == root else os.path.relpath(path, root)
    overrides = _read_yaml(path / ".hydra" / "overrides.yaml")
    settings = _flatten(_read_yaml(path / ".hydra" / "config.yaml"))
    run = Run(path, name, {}, None, [str(o) for o in overrides or []], settings=settings)
    metrics_file = path / "metrics.json"
    if not metrics_file.is_file():
        run.problem = "no metrics.json (failed or still running)"
        return run
    try:
        data = json.loads(metrics_file.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as error:
        run.problem = f"unreadable metrics.json ({error})"
        return run
    run.config = dict(data["config"]) if isinstance(data.get("config"), dict) else {}
    run.metrics = {
        k: float(v)
        for k, v in data.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return run


def read_scalars(run_dir: Path) -> dict[str, Curve]:
    """Scalar curves from a run's TensorBoard event files, one value per generator step.

    Steps repeat (the final values are logged twice at the last step; a resumed run logs again
    from its checkpoint): the latest write of a step wins.
    """
    from tensorboard.backend.event_processing import event_accumulator as ea

    latest: dict[str, dict[int, tuple[float, float]]] = {}
    for path in sorted(run_dir.rglob("events.out.tfevents.*")):
        events = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0})  # 0: keep all
        events.Reload()
        for tag in events.Tags().get(ea.SCALARS, []):
            by_step = latest.setdefault(tag, {})
            for event in events.Scalars(tag):
                old = by_step.get(event.step)
                if old is None or event.wall_time >= old[0]:
                    by_step[event.step] = (event.wall_time, event.value)
    return {
        tag: (np.array(sorted(s), dtype=np.int64), np.array([s[k][1] for k in sorted(s)]))
        for tag, s in latest.items()
    }


# -- grouping and labels ------------------------------------------------------------------------


def grouping_keys(runs: Sequence[Run], group_by: Sequence[str] | None = None) -> list[str]:
    """The keys that define a configuration: ``group_by``, or the whole summary except seed."""
    if group_by:
        known = {k for r in runs for k in (*r.config, *r.settings)}
        unknown = [k for k in group_by if k not in known]
        if unknown:
            summary = sorted({k for r in runs for k in r.config})
            raise CompareError(
                f"--group-by {', '.join(unknown)}: no run has this key. Keys of metrics.json's "
                f"config: {', '.join(summary)}; any dotted key of .hydra/config.yaml also works "
                "(e.g. optimizer.generator.betas)."
            )
        return list(group_by)
    return list(dict.fromkeys(k for r in runs for k in r.config if k != "seed"))


def hidden_differences(runs: Sequence[Run], keys: Sequence[str]) -> list[str]:
    """Settings outside metrics.json's summary (betas, widths, …) in which pooled runs differ.

    Without this a sweep over, say, Adam's betas would be averaged as if it were seeds.
    """
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        if run.settings:
            groups.setdefault(tuple(_hashable(run.value(k)) for k in keys), []).append(run)
    extra: list[str] = []
    for members in groups.values():
        for key in dict.fromkeys(k for m in members for k in m.settings):
            if key in extra or key in keys or _ignored(key):
                continue
            if len({_hashable(m.settings.get(key)) for m in members}) > 1:
                extra.append(key)
    return extra


def group_runs(runs: Sequence[Run], keys: Sequence[str]) -> list[Configuration]:
    """Pool finished runs by their values of ``keys``; label and sort the rows."""
    groups: dict[tuple[str, ...], Configuration] = {}
    for run in runs:
        values = {k: run.value(k) for k in keys}
        ident = tuple(_hashable(v) for v in values.values())
        groups.setdefault(ident, Configuration(values, [])).runs.append(run)
    configurations = list(groups.values())
    touched = [{t for r in c.runs for t in _override_targets(r.overrides)} for c in configurations]
    labels = make_labels([c.values for c in configurations], keys, touched)
    for configuration, label in zip(configurations, labels, strict=True):
        configuration.label = label
    return sort_configurations(configurations)


def make_labels(
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    touched: Sequence[set[str]] | None = None,
) -> list[str]:
    """Short, unique row names: the optimizer, then only the settings that tell rows apart.

    A setting is named only among rows with the same optimizer (``rmsprop`` implies its own lr),
    and, when the runs' Hydra overrides say so, only on the rows that changed it from the
    default (``adam`` next to ``adam lr.generator=1e-4``). If that leaves two rows with the
    same name, every differing setting is named.
    """
    with_optimizer = any(k in OPTIMIZER_KEYS for k in keys)
    heads = [_optimizer_name(row) if with_optimizer else "" for row in rows]

    def build(only_changed: bool, with_classes: bool) -> list[str]:
        labels = []
        for i, row in enumerate(rows):
            peers = [rows[j] for j, head in enumerate(heads) if head == heads[i]]
            shown = [
                k
                for k in keys
                if k not in OPTIMIZER_KEYS
                and _varies(peers, k)
                and not (only_changed and touched is not None and not _touches(touched[i], k))
            ]
            if with_classes:  # same optimizer name, different classes (a changed _target_)
                shown += [k for k in OPTIMIZER_KEYS[1:] if k in keys and _varies(peers, k)]
            labels.append(_describe(heads[i], row, shown))
        return labels

    for attempt in (build(True, False), build(False, False), build(False, True)):
        if len(set(attempt)) == len(attempt):
            return [label or "all runs" for label in attempt]
    return [", ".join(f"{k}={_format_value(row.get(k))}" for k in keys) for row in rows]


def sort_configurations(configurations: Sequence[Configuration]) -> list[Configuration]:
    """Best first: most modes, then lowest reverse KL, FID, FCD, KID, then most HQ samples."""
    present = [k for k in SORT_BY if any(c.stats(k)[2] for c in configurations)]

    def key(c: Configuration) -> tuple[Any, ...]:
        out: list[tuple[int, float]] = []
        for metric in present:
            mean = c.stats(metric)[0]
            missing = math.isnan(mean)
            out.append(
                (
                    int(missing),
                    0.0 if missing else -mean if METRICS[metric].higher_is_better else mean,
                )
            )
        return (*out, c.label)

    return sorted(configurations, key=key)


def compare(paths: Sequence[Path | str], group_by: Sequence[str] | None = None) -> Comparison:
    """Find, read and pool the runs under ``paths``; raise CompareError when there is none."""
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise CompareError(
            f"{', '.join(missing)}: no such directory. Give a multirun directory "
            "(logs/train/multiruns/<date>) or one or more run directories (logs/train/runs/<date>)."
        )
    roots = [p.parent if p.is_file() and p.name == "metrics.json" else p for p in roots]
    not_dirs = [str(p) for p in roots if not p.is_dir()]
    if not_dirs:
        raise CompareError(f"{', '.join(not_dirs)}: not a directory (give run or multirun dirs).")
    runs: list[Run] = []
    seen: set[Path] = set()
    for root in roots:
        for path in find_runs([root]):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                runs.append(load_run(path, root))
    where = ", ".join(str(p) for p in roots)
    if not runs:
        raise CompareError(
            f"no runs under {where}: a run directory holds metrics.json or .hydra/config.yaml "
            "(Hydra writes one per job under logs/train/runs/ or logs/train/multiruns/<date>/)."
        )
    finished = [r for r in runs if r.metrics is not None]
    if not finished:
        names = "; ".join(f"{r.name}: {r.problem}" for r in runs)
        raise CompareError(
            f"{_count(len(runs), 'run directory', 'run directories')} under {where}, but none "
            f"has a readable metrics.json (failed or still running): {names}."
        )
    keys = grouping_keys(finished, group_by)
    hidden = [] if group_by else hidden_differences(finished, keys)
    return Comparison(roots, runs, group_runs(finished, [*keys, *hidden]), [*keys, *hidden], hidden)


# -- writing ------------------------------------------------------------------------------------


def markdown_table(comparison: Comparison) -> str:
    """One row per configuration: seeds, mean ± std of each final metric, mean wall time."""
    metrics = comparison.metrics()
    header = ["configuration", "seeds", *(m.header for m in metrics), "wall time (s)"]
    lines = [_md_row(header), _md_row([":---", *["---:"] * (len(header) - 1)])]
    for c in comparison.configurations:
        cells = [c.label.replace("|", "\\|"), str(len(c.runs))]
        cells += [_format_stat(c.stats(m.key), m, len(c.runs)) for m in metrics]
        wall = c.stats(WALL_TIME)[0]
        cells.append("–" if math.isnan(wall) else f"{wall:.1f}")
        lines.append(_md_row(cells))
    return "\n".join(lines)


def write_table(comparison: Comparison, out: Path, plots: Sequence[Path] = ()) -> Path:
    """table.md: context, the table, the plots, and a section on missing and failed runs."""
    configurations, finished = (
        comparison.configurations,
        sum(len(c.runs) for c in comparison.configurations),
    )
    order = [METRICS[k].header for k in SORT_BY if any(c.stats(k)[2] for c in configurations)]
    text = [
        "# Run comparison",
        "",
        f"{_count(finished, 'finished run')} in {_count(len(configurations), 'configuration')} "
        f"from {', '.join(f'`{p}`' for p in comparison.roots)}. Each cell is the mean ± sample "
        "standard deviation (n − 1) over seeds of the final value; HQ in %."
        + (f" Sorted by {', then '.join(order)} (best first)." if order else ""),
    ]
    fixed = comparison.fixed()
    if fixed and len(configurations) > 1:
        text += [
            "",
            "Same in every row: "
            + ", ".join(f"`{k}={_format_value(v)}`" for k, v in fixed.items())
            + ".",
        ]
    if comparison.hidden_keys:
        text += [
            "",
            "Also split by " + ", ".join(f"`{k}`" for k in comparison.hidden_keys) + " (from "
            ".hydra/config.yaml: runs differ there although metrics.json's summary is the same).",
        ]
    text += ["", markdown_table(comparison)]
    if plots:
        text += ["", "## Curves (mean over seeds; band: min–max over seeds)", ""]
        text += [f"![{p.stem}]({p.name})" for p in plots]
    text += ["", "## Missing / failed runs", ""]
    failed = comparison.failed
    text += [f"- `{r.name}`: {_failure(r)}" for r in failed] or [
        "None: every run directory has metrics.json."
    ]
    seeds, other = comparison.seed_notes(), comparison.other_notes()
    if seeds:
        text += ["", "Seeds:", "", *(f"- {note}" for note in seeds)]
    if other:
        text += ["", "Other:", "", *(f"- {note}" for note in other)]
    path = out / "table.md"
    path.write_text("\n".join(text) + "\n")
    return path


def write_csv(comparison: Comparison, out: Path) -> Path:
    """table.csv: the table's numbers unrounded and unscaled (hq_fraction stays a fraction)."""
    metrics = [m.key for m in comparison.metrics()] + [WALL_TIME]
    header = ["configuration", "seeds", "seed_list", *comparison.keys]
    header += [f"{k}_{stat}" for k in metrics for stat in ("mean", "std")]
    path = out / "table.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        for c in comparison.configurations:
            row: list[Any] = [c.label, len(c.runs), " ".join(str(s) for s in c.seeds)]
            row += [_csv_value(c.values[k]) for k in comparison.keys]
            for key in metrics:
                mean, std, _ = c.stats(key)
                row += [mean, std]
            writer.writerow(row)
    return path


def write_plots(comparison: Comparison, out: Path) -> list[Path]:
    """One PNG per eval metric and one for the losses: a line per configuration over steps."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    configurations = comparison.configurations
    tags = {tag for c in configurations for r in c.runs for tag in r.curves()}
    evals = [k for k in METRICS if k in tags and k.startswith("eval/")]
    evals += sorted(t for t in tags if t.startswith("eval/") and t not in METRICS)
    figures = [(f"{tag.replace('/', '_')}.png", [tag]) for tag in evals]
    losses = [tag for tag in LOSSES if tag in tags]
    if losses:
        figures.append(("losses.png", losses))
    colors = colormaps["tab10" if len(configurations) <= 10 else "tab20"]
    written = []
    for filename, panel_tags in figures:
        figure = Figure(figsize=(6.5 * len(panel_tags), 4.2), layout="constrained")
        FigureCanvasAgg(figure)
        for ax, tag in zip(
            figure.subplots(1, len(panel_tags), squeeze=False)[0], panel_tags, strict=True
        ):
            metric = METRICS.get(tag, Metric(tag, tag, title=tag))
            for index, c in enumerate(configurations):
                curve = c.curve(tag)
                if curve is None:
                    continue
                steps, mean, low, high, n = curve
                color = colors(index % colors.N)
                ax.plot(
                    steps,
                    mean * metric.scale,
                    color=color,
                    marker="o" if steps.size <= 12 else None,
                    markersize=3,
                    label=f"{c.label} ({_count(n, 'seed')})",
                )
                if n > 1 and steps.size > 1:
                    ax.fill_between(
                        steps,
                        low * metric.scale,
                        high * metric.scale,
                        color=color,
                        alpha=0.2,
                        linewidth=0,
                    )
                elif n > 1:  # one evaluation only: a band would be invisible, draw the range
                    spread = [(mean - low) * metric.scale, (high - mean) * metric.scale]
                    ax.errorbar(steps, mean * metric.scale, yerr=spread, color=color, capsize=4)
            ax.set(
                title=f"{tag}: {metric.title}" if metric.title != tag else tag,
                xlabel="generator step",
                ylabel=metric.header.replace(" (final)", ""),
            )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
            if len(configurations) > 8:
                ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
            else:
                ax.legend(fontsize="small")
        path = out / filename
        figure.savefig(path, dpi=110)
        written.append(path)
    return written


def write_all(comparison: Comparison, out: Path) -> list[Path]:
    """Plots, table.md and table.csv into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(comparison, out)
    return [write_table(comparison, out, plots), write_csv(comparison, out), *plots]


# -- small helpers ------------------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return None


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _varies(rows: Sequence[dict[str, Any]], key: str) -> bool:
    return len({_hashable(row.get(key)) for row in rows}) > 1


def _ignored(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in IGNORED_SETTINGS)


def _hashable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _natural(value: Any) -> list[Any]:
    """Sort key that puts 2 before 10 in names and numbers alike."""
    return [
        (0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(value)) if t
    ]


def _override_targets(overrides: Iterable[str]) -> set[str]:
    """The config paths a Hydra override list changes: ``optim@optimizer.generator=sgd`` → …"""
    targets = set()
    for override in overrides:
        name = override.split("=", 1)[0].lstrip("+~")
        targets.add(name.split("@", 1)[1] if "@" in name else name)
    return targets


def _touches(targets: set[str], key: str) -> bool:
    aliases = {key, f"optimizer.{key[3:]}.lr"} if key.startswith("lr.") else {key}
    return any(t == a or t.startswith(a + ".") for t in targets for a in aliases)


def _optimizer_name(row: dict[str, Any]) -> str:
    """``adam``; ``adam/rmsprop`` when generator and discriminator use different types."""
    g, d, choice = (
        row.get("optimizer.generator"),
        row.get("optimizer.discriminator"),
        row.get("optimizer"),
    )
    if g and d and g != d:
        return f"{str(g).lower()}/{str(d).lower()}"
    return str(choice) if choice else str(g).lower() if g else ""


def _describe(head: str, row: dict[str, Any], shown: Sequence[str]) -> str:
    """``head k=v …``; a setting equal for both networks is named once (``lr=1e-4``)."""
    parts = [head] if head else []
    for key in shown:
        segments = key.split(".")
        swap = {"generator": "discriminator", "discriminator": "generator"}
        twin = ".".join(swap.get(s, s) for s in segments)
        if twin != key and twin in shown and _hashable(row.get(key)) == _hashable(row.get(twin)):
            if "discriminator" in segments:
                continue  # named once, where the generator's key comes
            name = ".".join(s for s in segments if s != "generator")  # lr.generator -> lr
            parts.append(f"{name}={_format_value(row.get(key))}")
        else:
            parts.append(f"{key}={_format_value(row.get(key))}")
    return " ".join(parts)


def _format_value(value: Any) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        if value != 0 and math.isfinite(value) and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return np.format_float_scientific(value, trim="-", exp_digits=1)
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_format_value(v) for v in value) + "]"
    return str(value)


def _format_stat(stat: tuple[float, float, int], metric: Metric, runs: int) -> str:
    mean, std, n = stat
    if n == 0:
        return "–"
    text = f"{mean * metric.scale:{metric.fmt}}"
    if n > 1 and math.isfinite(std):
        text += f" ± {std * metric.scale:{metric.fmt}}"
    return text + (f" (n={n})" if n < runs else "")


def _csv_value(value: Any) -> Any:
    return "" if value is None else json.dumps(value) if isinstance(value, list | dict) else value


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _seeds(seeds: Iterable[Any]) -> str:
    return ", ".join(str(s) for s in seeds)


def _failure(run: Run) -> str:
    overrides = " ".join(o for o in run.overrides)
    return str(run.problem) + (f"; overrides: `{overrides}`" if overrides else "")
