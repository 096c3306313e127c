"""README's benchmark tables, written by the leaderboard command between two marker lines, so
README says what the committed journals say and regenerates byte-identically: score B per
optimizer under both rulesets, then per workload each optimizer's median time to target and final
score, tuned and untuned, with bootstrap 95 % intervals."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ganopt.errors import ConfigError
from ganopt.study.leaderboard_data import Entry, Workload
from ganopt.study.stats import median_ci

BEGIN = "<!-- leaderboard: from here to the end marker, python scripts/leaderboard.py writes -->"
END = "<!-- leaderboard: end -->"


def readme_lines(
    workloads: list[Workload],
    score: dict[str, dict[str, float | None]],
    counted: dict[str, int],
    scored: list[str],
) -> list[str]:
    """``score``: ruleset -> optimizer -> B, over ``counted[ruleset]`` of the ``scored``
    workloads (those with all their runs in); a cell over fewer seeds than planned says so."""
    tuned, untuned = score["tuned"], score["untuned"]

    def best_first(o: str) -> tuple[bool, float, bool, float, str]:
        return (*by_score(tuned.get(o)), *by_score(untuned.get(o)), o)

    order = sorted(set(tuned) | set(untuned), key=best_first)
    lines = [
        "| optimizer | "
        + " | ".join(f"score B, {r} ({counted[r]} workloads)" for r in ("tuned", "untuned"))
        + " |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {o} | {_b(tuned.get(o))} | {_b(untuned.get(o))} |" for o in order]
    running = [
        f"{w.name} ({', '.join(f'{r} {w.progress(r)}' for r in score)} runs)"
        for w in workloads
        if w.name in scored and not all(w.complete(r) for r in score)
    ]
    if running:
        lines += ["", f"Still running, so not in the score yet: {'; '.join(running)}."]
    for w in workloads:
        tuned_entries, untuned_entries = w.entries["tuned"], w.entries["untuned"]
        rows = sorted(
            set(tuned_entries) | set(untuned_entries),
            key=lambda o: (median_time(tuned_entries.get(o)), o),
        )
        lines += [
            "",
            f"| {w.name}, target {w.target} | tuned: grad evals to target | tuned: final score "
            "| untuned: grad evals to target | untuned: final score |",
            "| --- | --- | --- | --- | --- |",
        ]
        for o in rows:
            cells = [
                cell
                for entry in (tuned_entries.get(o), untuned_entries.get(o))
                for cell in _cells(entry, w.seeds)
            ]
            lines.append(f"| {o} | " + " | ".join(cells) + " |")
    return lines


def write_readme(readme: Path, lines: list[str]) -> Path:
    """Replace what lies between the markers; everything else in README stays as written."""
    head, tail = split_readme(readme)
    readme.write_text(head + "\n".join(lines) + "\n" + tail)
    return readme


def split_readme(readme: Path) -> tuple[str, str]:
    """README up to and including the begin marker's line, and from the end marker on; a
    ConfigError (before the leaderboard writes anything) where either is missing."""
    text = readme.read_text() if readme.is_file() else ""
    begin, end = text.find(BEGIN + "\n"), text.find(END)
    if begin < 0 or end < begin:
        found = "has no leaderboard block" if readme.is_file() else "is no file"
        raise ConfigError(
            f"readme={readme} {found}: the leaderboard writes its tables between a line "
            f"{BEGIN} and a line {END} there; add both, or set readme=null to leave README alone."
        )
    return text[: begin + len(BEGIN) + 1], text[end:]


def by_score(b: float | None) -> tuple[bool, float]:
    """A sort key: the best score B first, no score (a workload missing) last."""
    return b is None, -(b or 0.0)


def _b(b: float | None) -> str:
    return "—" if b is None else f"{b:.3f}"


def median_time(entry: Entry | None) -> float:
    """A sort key: the median time to target; inf where no seed has a time (or none ran)."""
    return entry.time if entry is not None and entry.evaluations else math.inf


def _cells(entry: Entry | None, planned: int) -> list[str]:
    """Time to target and final score, median [95 % CI] over seeds; "n of N seeds" while the
    study has run fewer than it plans."""
    if entry is None or not entry.evaluations:
        return ["—", "—"]
    low, high = median_ci(entry.evaluations)
    time = f"{rounded(entry.time)} [{rounded(low)}, {rounded(high)}]"
    if (run := len(entry.evaluations)) < planned:
        time += f" ({run} of {planned} seeds)"
    return [time, median_with_ci(entry.scores) if entry.scores else "—"]


def rounded(value: float) -> str:
    """Gradient evaluations or seconds to target, whole; ∞ where the target was never met."""
    return f"{value:,.0f}" if math.isfinite(value) else "∞"


def median_with_ci(values: list[float]) -> str:
    low, high = median_ci(values)
    return f"{np.median(values):.4g} [{low:.4g}, {high:.4g}]"
