"""Sample-quality metrics. An evaluator maps a batch of generated samples to named floats."""

from collections.abc import Callable

from torch import Tensor

from ganopt.metrics.classifier import ClassifierMetrics, ClassifierSettings, DigitClassifier
from ganopt.metrics.combined import Evaluators
from ganopt.metrics.frechet import FrechetDistance, frechet_distance
from ganopt.metrics.inception import InceptionMetrics, load_inception
from ganopt.metrics.modes import ModeCoverage
from ganopt.metrics.stacked import StackedModes

Evaluator = Callable[[Tensor], dict[str, float]]
# Every metric an evaluator here reports: the HParams tab declares them before training.
METRIC_NAMES = (*ModeCoverage.names, *ClassifierMetrics.names, *InceptionMetrics.names)

__all__ = [
    "METRIC_NAMES",
    "ClassifierMetrics",
    "ClassifierSettings",
    "DigitClassifier",
    "Evaluator",
    "Evaluators",
    "FrechetDistance",
    "InceptionMetrics",
    "ModeCoverage",
    "StackedModes",
    "frechet_distance",
    "load_inception",
]
