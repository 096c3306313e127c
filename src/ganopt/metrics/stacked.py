"""Mode coverage of stacked digits (Stacked MNIST, as PacGAN and VEEGAN count it): each channel
of a sample is classified by ganopt's classifier of the one-channel data set, the label triple
is the sample's mode, and 1,000 modes are counted and compared with the uniform histogram."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from ganopt.errors import ConfigError
from ganopt.metrics.classifier import ClassifierMetrics
from ganopt.metrics.modes import reverse_kl


class StackedModes:
    """``eval/modes`` (label triples with at least ``min_samples_per_mode`` samples),
    ``eval/reverse_kl`` (KL of the mode histogram to uniform over all n³ modes) and
    ``eval/fcd`` (the channels' Fréchet classifier distances, averaged).

    ``min_samples``: the evaluation draws at least this many samples (the Evaluation callback
    takes the largest an evaluator asks): a perfect generator's n samples leave a mode empty
    with probability e^(-n/1000), about 45 of 1,000 modes at 2,500 samples and 0.05 at 10,000,
    so fewer would cap the count by sampling, not by the generator.
    """

    names: ClassVar[tuple[str, ...]] = ("eval/modes", "eval/reverse_kl", "eval/fcd")

    def __init__(
        self,
        channel_metrics: ClassifierMetrics,
        modes_of: Any,
        n_modes: int,
        min_samples: int = 10_000,
        min_samples_per_mode: int = 1,
    ) -> None:
        self.channel_metrics, self.modes_of, self.n_modes = channel_metrics, modes_of, n_modes
        self.min_samples, self.min_samples_per_mode = min_samples, min_samples_per_mode

    @classmethod
    def of(
        cls, datamodule: Any, min_samples: int = 10_000, min_samples_per_mode: int = 1
    ) -> StackedModes:
        base = getattr(datamodule, "base", None)
        if base is None or not hasattr(datamodule, "modes_of"):
            raise ConfigError(
                f"stacked mode coverage classifies each channel of stacked digits, and the data "
                f"set ({type(datamodule).__name__}) is not stacked: use data=stacked_digits or "
                f"data=stacked_mnist"
            )
        channel_metrics = ClassifierMetrics.of(base)
        n_modes = datamodule.n_classes**3
        return cls(channel_metrics, datamodule.modes_of, n_modes, min_samples, min_samples_per_mode)

    def prepare(self) -> None:
        self.channel_metrics.prepare()

    @torch.no_grad()
    def __call__(self, samples: Tensor) -> dict[str, float]:
        channels = [samples[:, c : c + 1] for c in range(samples.shape[1])]
        per_channel = [self.channel_metrics(channel) for channel in channels]
        model = self.channel_metrics.trained.model
        labels = torch.stack(
            [model(c.detach().float().cpu().clamp(-1, 1)).argmax(dim=1) for c in channels], dim=1
        )
        counts = torch.bincount(self.modes_of(labels), minlength=self.n_modes)
        return {
            "eval/modes": float((counts >= self.min_samples_per_mode).sum()),
            "eval/reverse_kl": reverse_kl(counts),
            "eval/fcd": sum(m["eval/fcd"] for m in per_channel) / len(per_channel),
        }
