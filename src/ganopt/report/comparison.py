"""Pool runs into configurations (runs that differ only by seed) and name and sort them.

The question ganopt answers is "which optimizer trains a GAN well?", and one seed of a GAN says
little, so runs that differ only in ``seed`` are pooled into one configuration.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganopt.app.schema import Role, role
from ganopt.report.runs import Run, find_runs, hashable, load_run, natural_key

OPTIMIZER_KEYS = ("optimizer", "optimizer.generator", "optimizer.discriminator")


LOSSES = ("loss/d", "loss/g")


WALL_TIME = "wall_time_s"


SORT_BY = ("eval/modes", "eval/reverse_kl", "eval/fid", "eval/fcd", "eval/kid", "eval/hq_fraction")


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
        present = set().union(*(r.metrics or {} for c in self.configurations for r in c.runs))
        known = [m for k, m in METRICS.items() if k in present and k.startswith("eval/")]
        other = [
            Metric(k, k) for k in sorted(present) if k.startswith("eval/") and k not in METRICS
        ]
        return [*known, *other, *(METRICS[k] for k in LOSSES if k in present)]

    def fixed(self) -> dict[str, Any]:
        """Grouping keys with one value in every row: said once above the table, not per row."""
        rows = [c.values for c in self.configurations]
        return {k: rows[0][k] for k in self.keys if len({hashable(r[k]) for r in rows}) == 1}

    def seed_notes(self) -> list[str]:
        """Rows resting on fewer seeds than the others, or on repeated seeds."""
        notes: list[str] = []
        counts = [len(c.runs) for c in self.configurations]
        every = sorted({hashable(s) for c in self.configurations for s in c.seeds}, key=natural_key)
        most = max(counts)
        for c in self.configurations:
            own = [hashable(s) for s in c.seeds]
            if len(own) < most:
                lacking = [s for s in every if s not in own]
                text = f"`{c.label}` has {count(len(own), 'seed')} ({_seeds(c.seeds)}) "
                text += f"where others have {most}"
                notes.append(text + (f"; missing seed {_seeds(lacking)}" if lacking else ""))
            repeated = sorted({s for s in own if own.count(s) > 1}, key=natural_key)
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
                done, planned = (run.metrics or {}).get("generator_steps"), run.config.get("steps")
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
        failed = [f"`{run.name}`: {failure_text(run)}" for run in self.failed]
        return [*failed, *self.seed_notes(), *self.other_notes()]


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
            f"{count(len(runs), 'run directory', 'run directories')} under {where}, but none "
            f"has a readable metrics.json (failed or still running): {names}."
        )
    keys = grouping_keys(finished, group_by)
    hidden = [] if group_by else hidden_differences(finished, keys)
    return Comparison(roots, runs, group_runs(finished, [*keys, *hidden]), [*keys, *hidden], hidden)


def grouping_keys(runs: Sequence[Run], group_by: Sequence[str] | None = None) -> list[str]:
    """The keys that define a configuration: ``group_by``, or the whole summary but the seeds."""
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
    return list(dict.fromkeys(k for r in runs for k in r.config if not _ignored(k)))


def hidden_differences(runs: Sequence[Run], keys: Sequence[str]) -> list[str]:
    """Settings outside metrics.json's summary (betas, widths, …) in which pooled runs differ.

    Without this a sweep over, say, Adam's betas would be averaged as if it were seeds.
    """
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        if run.settings:
            groups.setdefault(tuple(hashable(run.value(k)) for k in keys), []).append(run)
    extra: list[str] = []
    for members in groups.values():
        for key in dict.fromkeys(k for m in members for k in m.settings):
            if key in extra or key in keys or _ignored(key):
                continue
            if len({hashable(m.settings.get(key)) for m in members}) > 1:
                extra.append(key)
    return extra


def group_runs(runs: Sequence[Run], keys: Sequence[str]) -> list[Configuration]:
    """Pool finished runs by their values of ``keys``; label and sort the rows."""
    groups: dict[tuple[str, ...], Configuration] = {}
    for run in runs:
        values = {k: run.value(k) for k in keys}
        ident = tuple(hashable(v) for v in values.values())
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
    return [", ".join(f"{k}={format_value(row.get(k))}" for k in keys) for row in rows]


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


def _varies(rows: Sequence[dict[str, Any]], key: str) -> bool:
    return len({hashable(row.get(key)) for row in rows}) > 1


def _ignored(key: str) -> bool:
    """Settings that never split a configuration: the seed (runs on several seeds are one
    configuration) and how a run executes (``ganopt.app.schema`` roles); an unknown key splits."""
    return role(key) in (Role.SEED, Role.HOW)


def _override_targets(overrides: Iterable[str]) -> set[str]:
    """The config paths a Hydra override list changes:
    ``network_optimizer@optimizer.generator=sgd`` → …"""
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
        if twin != key and twin in shown and hashable(row.get(key)) == hashable(row.get(twin)):
            if "discriminator" in segments:
                continue  # named once, where the generator's key comes
            name = ".".join(s for s in segments if s != "generator")  # lr.generator -> lr
            parts.append(f"{name}={format_value(row.get(key))}")
        else:
            parts.append(f"{key}={format_value(row.get(key))}")
    return " ".join(parts)


def format_value(value: Any) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        if value != 0 and math.isfinite(value) and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return np.format_float_scientific(value, trim="-", exp_digits=1)
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    return str(value)


def count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _seeds(seeds: Iterable[Any]) -> str:
    return ", ".join(str(s) for s in seeds)


def failure_text(run: Run) -> str:
    overrides = " ".join(o for o in run.overrides)
    return str(run.problem) + (f"; overrides: `{overrides}`" if overrides else "")
