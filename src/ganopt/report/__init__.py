"""Compare finished runs: one row per configuration (mean ± std over seeds) and mean curves.

Importable, so a notebook rebuilds the same table; ``scripts/compare.py`` is only the CLI.
``runs`` reads run directories, ``comparison`` pools them by configuration, ``tables`` and
``plots`` write what compare.py reports.
"""

from __future__ import annotations

from pathlib import Path

from ganopt.report.comparison import CompareError, Comparison, Configuration, compare
from ganopt.report.plots import write_plots
from ganopt.report.runs import Run, find_runs, load_run, read_scalars
from ganopt.report.tables import markdown_table, write_csv, write_table

__all__ = [
    "CompareError",
    "Comparison",
    "Configuration",
    "Run",
    "compare",
    "find_runs",
    "load_run",
    "markdown_table",
    "read_scalars",
    "write_all",
    "write_csv",
    "write_plots",
    "write_table",
]


def write_all(comparison: Comparison, out: Path) -> list[Path]:
    """Plots, table.md and table.csv into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(comparison, out)
    return [write_table(comparison, out, plots), write_csv(comparison, out), *plots]
