"""The statistics of a fair optimizer study, as small pure functions over lists of scores.

- ``expected_max``: the expected best score after k trials of a random search, computed from n
  observed trials without resampling (Dodge et al. 2019, "Show Your Work"): with the scores
  sorted v₁ ≤ … ≤ vₙ, E[max of k] = Σᵢ vᵢ·((i/n)ᵏ − ((i−1)/n)ᵏ).
- ``bootstrap_ci``: a percentile bootstrap confidence interval of the mean over seeds.
- ``median_ci`` and ``median_difference_ci``: the same for a median over seeds and for the
  difference of two optimizers' (or rulesets') medians: an interval holding 0 is within noise.
- ``probability_of_improvement``: P(a > b) over all pairs of seed scores, ties counting ½
  (as in rliable).
- ``busy_seconds`` and ``efficiency``: how well a study kept its workers busy with training
  (the issue's measure: ideal time at the hand-written loop's rate over the time it took).
Scores are oriented so that higher is better (a minimised metric is negated first).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def expected_max(scores: Sequence[float], k: int) -> float:
    values = np.sort(np.asarray(scores, dtype=float))
    n = len(values)
    i = np.arange(1, n + 1)
    weights = (i / n) ** k - ((i - 1) / n) ** k
    return float(np.sum(values * weights))


def bootstrap_ci(
    scores: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    values = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def median_ci(
    values: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """A percentile-bootstrap 95 % interval of the median over seeds (inf-safe: resampled
    medians are sorted and picked, never interpolated)."""
    medians = np.sort(_resampled_medians(values, resamples, np.random.default_rng(seed)))
    return float(medians[int(0.025 * resamples)]), float(medians[int(0.975 * resamples) - 1])


def median_difference_ci(
    a: Sequence[float], b: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """median(a) − median(b) and its percentile-bootstrap 95 % interval, each side's seeds
    resampled on their own (two optimizers' runs share seeds, not outcomes)."""
    rng = np.random.default_rng(seed)
    differences = _resampled_medians(a, resamples, rng) - _resampled_medians(b, resamples, rng)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(np.median(a) - np.median(b)), float(low), float(high)


def _resampled_medians(
    values: Sequence[float], resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The medians of ``resamples`` bootstrap resamples of ``values`` (seeds drawn with
    replacement)."""
    data = np.asarray(values, dtype=float)
    return np.median(data[rng.integers(0, len(data), (resamples, len(data)))], axis=1)


def probability_of_improvement(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = np.asarray(a, dtype=float)[:, None], np.asarray(b, dtype=float)[None, :]
    return float(np.mean((x > y) + 0.5 * (x == y)))


def busy_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """The length of the union of (start, end) intervals: the time some trial was running, so
    the hours between two sessions of a resumed study do not count."""
    total, reach = 0.0, -np.inf
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return float(total)


def efficiency(
    gradient_evaluations: float, hand_loop_steps_per_s: float, trial_seconds: float
) -> float:
    """(the study's training at the hand loop's speed) / the time its trials took, summed over
    the workers that ran them (however many ran at once). The hand loop takes 2 gradient
    evaluations (D and G) per generator step, so counting evaluations charges extragradient
    methods their second gradient, and pruned trials only the steps they ran."""
    return gradient_evaluations / (2 * hand_loop_steps_per_s) / trial_seconds
