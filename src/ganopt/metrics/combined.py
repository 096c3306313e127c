"""Several evaluators as one: the evaluation callback calls a single callable."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor


class Evaluators:
    """Calls each evaluator on the same samples and merges their metric dicts.

    ``prepare()`` forwards to the evaluators that have one, so a run can load networks and
    compute real statistics (and fail on missing weights) before training starts.
    """

    def __init__(self, *evaluators: Callable[[Tensor], dict[str, float]]) -> None:
        self.evaluators = evaluators

    def prepare(self) -> None:
        for evaluator in self.evaluators:
            prepare = getattr(evaluator, "prepare", None)
            if prepare is not None:
                prepare()

    def __call__(self, samples: Tensor) -> dict[str, float]:
        merged: dict[str, float] = {}
        for evaluator in self.evaluators:
            merged.update(evaluator(samples))
        return merged
