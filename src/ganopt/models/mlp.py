"""Fully connected networks: the usual choice for 2D mixtures, and a baseline for images."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ganopt.models.common import apply_spectral_norm


def _mlp(sizes: Sequence[int], activation: nn.Module) -> nn.Sequential:
    layers: list[nn.Module] = []
    for fan_in, fan_out in itertools.pairwise(sizes[:-1]):
        layers += [nn.Linear(fan_in, fan_out), activation]
    return nn.Sequential(*layers, nn.Linear(sizes[-2], sizes[-1]))


class MLPGenerator(nn.Module):
    def __init__(
        self,
        shape: Sequence[int],
        latent_dim: int = 16,
        hidden: int = 256,
        depth: int = 3,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim
        self.net = _mlp([latent_dim, *[hidden] * depth, math.prod(shape)], nn.ReLU())
        # Image data lives in [-1, 1]; 2D mixtures are unbounded.
        self.out = nn.Tanh() if len(self.shape) == 3 else nn.Identity()
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.net(z)).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(
        self, shape: Sequence[int], hidden: int = 256, depth: int = 3, spectral_norm: bool = False
    ) -> None:
        super().__init__()
        self.net = _mlp([math.prod(shape), *[hidden] * depth, 1], nn.LeakyReLU(0.2))
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.flatten(x, 1)).squeeze(1)
