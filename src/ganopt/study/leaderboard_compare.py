"""What the leaderboard's numbers say in differences, so README's reading of them is regenerated
with the tables: what tuning buys each optimizer (tuned − untuned) and how each compares with
reference optimizers (Adam, optimistic Adam), per workload. Each is a difference of medians of
the final score over seeds with a bootstrap 95 % interval (``stats.median_difference_ci``): an
interval that holds 0 is within the seeds' noise, and the table marks it ``≈``.
"""

from __future__ import annotations

import math

import numpy as np

from ganopt.study.leaderboard_data import RULESETS, Entry, Workload
from ganopt.study.stats import median_difference_ci


def difference(a: Entry | None, b: Entry | None) -> str:
    """median(a) − median(b) [95 % CI] of the final scores, ``≈`` where the interval holds 0;
    — where either side has no finished seed."""
    if a is None or b is None or not a.scores or not b.scores:
        return "—"
    value, low, high = median_difference_ci(a.scores, b.scores)
    noise = " ≈" if low <= 0 <= high else ""
    return f"{value:+.3g} [{low:+.3g}, {high:+.3g}]{noise}"


def speedup(slow: Entry | None, fast: Entry | None) -> str:
    """The ratio of median gradient evaluations to target, slow / fast; miss where either
    median seed missed."""
    if slow is None or fast is None or not slow.evaluations or not fast.evaluations:
        return "—"
    if not math.isfinite(fast.time):
        return "miss (tuned)"
    if not math.isfinite(slow.time):
        return "miss (untuned)"
    return f"{slow.time / fast.time:.2f}"


def tuning_lines(workloads: list[Workload]) -> list[str]:
    """Per workload and optimizer run under both rulesets: medians, tuned − untuned, and how
    many times faster to target tuning made it."""
    lines = [
        "",
        "## What tuning buys",
        "",
        "Final score: median over seeds per ruleset, and tuned − untuned with its bootstrap 95 % "
        "interval (≈: the interval holds 0, within noise). Time: untuned / tuned median gradient "
        "evaluations to target (above 1: tuning reached it sooner).",
        "",
        "| workload | optimizer | tuned | untuned | tuned − untuned [95% CI] "
        "| time, untuned / tuned |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for w in workloads:
        tuned, untuned = (w.entries[ruleset] for ruleset in RULESETS)
        for optimizer in sorted(set(tuned) & set(untuned)):
            a, b = tuned[optimizer], untuned[optimizer]
            if not a.scores or not b.scores:
                continue
            lines.append(
                f"| {w.name} | {optimizer} | {np.median(a.scores):.4g} | "
                f"{np.median(b.scores):.4g} | {difference(a, b)} | {speedup(b, a)} |"
            )
    return lines


def reference_lines(workloads: list[Workload], references: list[str]) -> list[str]:
    """Per ruleset, workload and optimizer: its final score's median difference to each
    reference optimizer's (positive: better than the reference)."""
    header = " | ".join(f"vs {r} [95% CI]" for r in references)
    lines = [
        "",
        f"## Against {', '.join(references)}",
        "",
        "Median final score minus the reference's, over seeds, with its bootstrap 95 % interval "
        "(positive: better; ≈: within noise).",
        "",
        f"| ruleset | workload | optimizer | {header} |",
        "| --- | --- | --- | " + " | ".join("---" for _ in references) + " |",
    ]
    for ruleset in RULESETS:
        for w in workloads:
            entries = w.entries[ruleset]
            for optimizer in sorted(set(entries) - set(references)):
                cells = [difference(entries[optimizer], entries.get(r)) for r in references]
                if any(cell != "—" for cell in cells):
                    lines.append(f"| {ruleset} | {w.name} | {optimizer} | {' | '.join(cells)} |")
    return lines
