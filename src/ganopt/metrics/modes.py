"""Mode coverage on Gaussian mixtures, with the definitions of PacGAN (Lin et al. 2018).

A sample is high quality when it lies within ``hq_sigmas`` standard deviations of its nearest
mean; a mode is covered when it has at least ``min_samples_per_mode`` high-quality samples;
reverse KL compares the histogram of high-quality samples over modes with the uniform one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ganopt.errors import ConfigError


@dataclass
class ModeCoverage:
    names: ClassVar[tuple[str, ...]] = ("eval/modes", "eval/hq_fraction", "eval/reverse_kl")
    means: Tensor
    std: float
    hq_sigmas: float = 3.0
    min_samples_per_mode: int = 1

    @classmethod
    def of(
        cls, datamodule: Any, hq_sigmas: float = 3.0, min_samples_per_mode: int = 1
    ) -> ModeCoverage:
        """Mode coverage of a mixture data set: its ``means`` and ``std`` (conf/metric/modes)."""
        means, std = getattr(datamodule, "means", None), getattr(datamodule, "std", None)
        if not isinstance(means, Tensor) or not isinstance(std, float | int):
            raise ConfigError(
                f"mode coverage judges samples of a Gaussian mixture, and the data set "
                f"({type(datamodule).__name__}) has no means and std: use data=gaussians_ring or "
                f"data=gaussians_grid"
            )
        return cls(means, float(std), hq_sigmas, min_samples_per_mode)

    def __call__(self, samples: Tensor) -> dict[str, float]:
        means = self.means.to(samples)
        distances, nearest = torch.cdist(samples.flatten(1), means).min(dim=1)
        high_quality = distances <= self.hq_sigmas * self.std
        counts = torch.bincount(nearest[high_quality], minlength=len(means)).double()
        return {
            "eval/modes": float((counts >= self.min_samples_per_mode).sum()),
            "eval/hq_fraction": float(high_quality.double().mean()),
            "eval/reverse_kl": reverse_kl(counts),
        }


def reverse_kl(counts: Tensor) -> float:
    """KL(p̂ ‖ uniform) of a histogram over modes, Σ p log(n·p); with no sample at all, as bad as
    a single collapsed mode (log n)."""
    n_modes = len(counts)
    if counts.sum() <= 0:
        return math.log(n_modes)
    p = counts.double() / counts.sum()
    nonzero = p > 0
    return float((p[nonzero] * (p[nonzero] * n_modes).log()).sum())
