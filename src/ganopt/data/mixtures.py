"""2D Gaussian mixtures, the standard mode-collapse benchmarks (PacGAN/VEEGAN settings)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganopt.data.base import InMemoryDataModule
from ganopt.data.order import generator_for


def ring_means(n_modes: int = 8, radius: float = 1.0) -> Tensor:
    """``n_modes`` distinct means on a circle (no repeated endpoint: two popular codebases have
    one)."""
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_means(size: int = 5, spacing: float = 2.0) -> Tensor:
    """A ``size`` x ``size`` grid centred on the origin: {-4,-2,0,2,4}^2 for the defaults."""
    axis = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * spacing
    return torch.cartesian_prod(axis, axis)


class MixtureDataModule(InMemoryDataModule):
    """Equal-weight isotropic Gaussians; every batch is a fresh sample from the mixture."""

    def __init__(
        self,
        means: Tensor,
        std: float,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size, seed)
        self.means, self.std = torch.as_tensor(means, dtype=torch.float32), std
        self.shape = (self.means.shape[1],)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        modes = torch.randint(len(self.means), (n,), generator=generator)
        return self.means[modes] + self.std * torch.randn(n, self.shape[0], generator=generator)

    def make_batch(self, index: int) -> Tensor:
        return self.sample(self.batch_size, generator_for(self.seed, index))
