"""Fréchet distance between Gaussian fits of two feature sets, computed by torchmetrics.

torchmetrics' ``FrechetInceptionDistance`` accepts any feature module. Fed an identity module and
features we computed ourselves, it fits both Gaussians in float64 and takes the trace term from
the eigenvalues of Σ₁Σ₂ (no explicit matrix square root, so singular covariances are fine): the
formula is reused, not copied. The same trick serves ``KernelInceptionDistance`` (inception.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance


class PrecomputedFeatures(nn.Module):
    """Identity "feature extractor": lets torchmetrics' FID/KID consume features we computed.

    ``num_features`` spares FID its probe call on a dummy 299x299 image.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def _rows(features: Tensor) -> Tensor:
    if features.dim() != 2 or len(features) < 2:
        raise ValueError(
            f"expected a (N >= 2, D) feature matrix, got shape {tuple(features.shape)}"
        )
    return features.detach().to("cpu", torch.float64)


class FrechetDistance:
    """Fréchet distance to a fixed reference feature set, whose Gaussian fit is computed once.

    ``sync_on_compute=False``: evaluation runs on rank zero only, so a DDP all-gather inside
    ``compute`` would wait forever for the other ranks.
    """

    def __init__(self, reference: Tensor) -> None:
        reference = _rows(reference)
        self.n_reference = len(reference)
        self._metric = FrechetInceptionDistance(
            feature=PrecomputedFeatures(reference.shape[1]),
            reset_real_features=False,
            sync_on_compute=False,
        )
        self._metric.update(reference, real=True)

    def __call__(self, features: Tensor) -> float:
        self._metric.reset()  # keeps the reference statistics (reset_real_features=False)
        self._metric.update(_rows(features), real=False)
        # Equal distributions give 0 up to rounding, which may be a tiny negative number.
        return max(float(self._metric.compute()), 0.0)


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussian fits of two (N, D) feature sets."""
    return FrechetDistance(a)(b)
