"""Sample-quality metrics. An evaluator maps a batch of generated samples to named floats."""

from collections.abc import Callable

from torch import Tensor

from ganopt.metrics.modes import ModeCoverage

Evaluator = Callable[[Tensor], dict[str, float]]

__all__ = ["Evaluator", "ModeCoverage"]
