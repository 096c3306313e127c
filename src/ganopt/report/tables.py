"""A Comparison as table.md (context, table, plots, missing runs) and table.csv."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganopt.report.comparison import (
    METRICS,
    SORT_BY,
    WALL_TIME,
    Comparison,
    Metric,
    count,
    failure_text,
    format_value,
)


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
        f"{count(finished, 'finished run')} in {count(len(configurations), 'configuration')} "
        f"from {', '.join(f'`{p}`' for p in comparison.roots)}. Each cell is the mean ± sample "
        "standard deviation (n − 1) over seeds of the final value; HQ in %."
        + (f" Sorted by {', then '.join(order)} (best first)." if order else ""),
    ]
    fixed = comparison.fixed()
    if fixed and len(configurations) > 1:
        text += [
            "",
            "Same in every row: "
            + ", ".join(f"`{k}={format_value(v)}`" for k, v in fixed.items())
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
    text += [f"- `{r.name}`: {failure_text(r)}" for r in failed] or [
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
