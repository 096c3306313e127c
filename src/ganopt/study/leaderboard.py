"""One answer across workloads, as MLCommons AlgoPerf gives it (Dahl et al. 2023, section 4.5):
per workload each optimizer's time to target relative to the fastest one, the performance
profile of those ratios, and its area as one benchmark score per optimizer.

Times are ``math.inf`` where an optimizer missed the target within the budget; an optimizer that
did not run a workload has no entry there, and gets no score (it is missing, never a zero or a
win).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

R_MAX = 4.0  # AlgoPerf's cap on the ratio: slower than 4x the best counts as not solved

Times = Mapping[str, Mapping[str, float]]  # optimizer -> workload -> time to target


def ratios(times: Times) -> dict[str, dict[str, float]]:
    """r_{s,w} = t_{s,w} / min_s t_{s,w}; inf for a miss and for a workload nobody solved."""
    workloads = {w for by_workload in times.values() for w in by_workload}
    best = {w: min(t[w] for t in times.values() if w in t) for w in workloads}
    return {
        s: {w: t / best[w] if math.isfinite(best[w]) else math.inf for w, t in by_w.items()}
        for s, by_w in times.items()
    }


def profile(ratios_of: Mapping[str, float], n_workloads: int, tau: float) -> float:
    """ρ_s(τ): the fraction of all workloads on which the optimizer is within τ of the best."""
    return sum(r <= tau for r in ratios_of.values()) / n_workloads


def benchmark_score(ratios_of: Mapping[str, float], n_workloads: int) -> float | None:
    """B_s = 1/(r_max − 1) · ∫₁^{r_max} ρ_s(τ) dτ, exactly (ρ is a step function: a workload with
    ratio r adds (r_max − max(r, 1)) / n where r ≤ r_max); None when a workload is missing."""
    if len(ratios_of) < n_workloads:
        return None
    area = sum(R_MAX - max(r, 1.0) for r in ratios_of.values() if r <= R_MAX)
    return area / (n_workloads * (R_MAX - 1.0))
