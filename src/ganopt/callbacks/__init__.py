"""Training callbacks, all scheduled in generator steps (never Lightning's ``global_step``)."""

from ganopt.callbacks.checkpoint import StepCheckpoint
from ganopt.callbacks.evaluation import Evaluation
from ganopt.callbacks.progress import StepProgressBar, Throughput
from ganopt.callbacks.samples import SampleGrid
from ganopt.callbacks.stop import GracefulStop
from ganopt.callbacks.target import TimeToTarget

__all__ = [
    "Evaluation",
    "GracefulStop",
    "SampleGrid",
    "StepCheckpoint",
    "StepProgressBar",
    "Throughput",
    "TimeToTarget",
]
